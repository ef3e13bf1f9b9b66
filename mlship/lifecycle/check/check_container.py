"""Rules on the Dockerfiles: non-root, a HEALTHCHECK where the pattern serves, pinned
base images, no secrets copied in or baked into ENV/ARG."""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import PurePosixPath

from mlship.lifecycle.check import dockerfile
from mlship.lifecycle.check.context import Context
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule

ROOT_USERS = {"root", "0"}


def _stages(
    ctx: Context, rule: Rule
) -> Iterator[tuple[str, list[dockerfile.Stage], dict[str, str]]]:
    for rel in ctx.files(rule.params.get("dockerfiles", ["Dockerfile"])):
        found, global_args = dockerfile.stages(ctx.text(rel) or "")
        if found:
            yield rel, found, global_args


def dockerfile_non_root(ctx: Context, rule: Rule) -> Iterator[Finding]:
    for rel, stages, _ in _stages(ctx, rule):
        final = stages[-1]
        user = final.last("USER")
        if user is None:
            yield rule.finding(
                f"{rel}: the final stage has no USER, so it runs as root", rel, final.start.line
            )
        elif user.args.split(":")[0].strip() in ROOT_USERS:
            yield rule.finding(f"{rel}: the final stage runs as root ({user.args})", rel, user.line)


def dockerfile_healthcheck(ctx: Context, rule: Rule) -> Iterator[Finding]:
    for rel, stages, _ in _stages(ctx, rule):
        check = stages[-1].last("HEALTHCHECK")
        if check is None:
            yield rule.finding(
                f"{rel}: the final stage declares no HEALTHCHECK", rel, stages[-1].start.line
            )
        elif check.args.split()[0].upper() == "NONE":
            yield rule.finding(
                f"{rel}: HEALTHCHECK NONE turns the health check off", rel, check.line
            )


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def dockerfile_pinned_base(ctx: Context, rule: Rule) -> Iterator[Finding]:
    for rel, stages, global_args in _stages(ctx, rule):
        names: set[str] = set()
        for stage in stages:
            image = stage.image
            if image.lower() == "scratch" or image in names:
                pass
            else:
                resolved = dockerfile.expand(image, global_args)
                if resolved is None:
                    yield rule.finding(
                        f"{rel}: base image {image} uses an ARG without a default",
                        rel,
                        stage.start.line,
                    )
                elif not _pinned(resolved):
                    yield rule.finding(
                        f"{rel}: base image {resolved} is not pinned to a tag or digest",
                        rel,
                        stage.start.line,
                    )
            if stage.name:
                names.add(stage.name)


def _dockerignore_excludes(ctx: Context, name: str) -> bool:
    lines = (ctx.text(".dockerignore") or "").splitlines()
    patterns = [p.strip().lstrip("/") for p in lines if p.strip() and not p.startswith("#")]
    return any(fnmatch(name, p) or p in ("*", "**") for p in patterns if not p.startswith("!"))


def dockerfile_secrets(ctx: Context, rule: Rule) -> Iterator[Finding]:
    secret_files = list(rule.params.get("files", []))
    variable = re.compile(str(rule.params.get("variables", r"(?i)secret")))
    for rel, stages, _ in _stages(ctx, rule):
        for stage in stages:
            for step in stage.body:
                if step.keyword in ("COPY", "ADD"):
                    sources = dockerfile.copy_sources(step)
                    secrets = [s for s in sources if _is_secret(s, secret_files)]
                    if secrets:
                        yield rule.finding(
                            f"{rel}: {step.keyword} {' '.join(secrets)} puts "
                            "secrets into the image",
                            rel,
                            step.line,
                        )
                    elif {".", "./"} & set(sources) and not _dockerignore_excludes(ctx, ".env"):
                        yield rule.finding(
                            f"{rel}: {step.keyword} . copies the whole build context and "
                            ".dockerignore does not keep .env out",
                            rel,
                            step.line,
                        )
                elif step.keyword in ("ENV", "ARG"):
                    for key, value in _assignments(step.args):
                        reference = key.upper().endswith(("_FILE", "_PATH", "_DIR"))
                        literal = value and not value.startswith("$") and not reference
                        if variable.search(key) and literal:
                            yield rule.finding(
                                f"{rel}: {step.keyword} {key} bakes a secret value into the image",
                                rel,
                                step.line,
                            )


def _is_secret(source: str, patterns: list[str]) -> bool:
    parts = PurePosixPath(source.rstrip("/")).parts
    return any(fnmatch(part, p) for part in parts for p in patterns)


def _assignments(args: str) -> list[tuple[str, str]]:
    """``KEY=value KEY2=value2`` or the legacy ``KEY value`` form."""
    if "=" not in args.split(" ", 1)[0]:
        key, _, value = args.partition(" ")
        return [(key, value.strip().strip("\"'"))]
    pairs = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\'[^\']*\'|\S*)', args)
    return [(k, v.strip("\"'")) for k, v in pairs]
