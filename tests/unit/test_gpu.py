"""The CUDA compatibility table: the shipped facts, selection, and refusal of bad tables."""

from __future__ import annotations

import pytest
import yaml

from mlship.errors import InputError, KnowledgeBaseError
from mlship.new import gpu
from mlship.new.plan import load_pins
from mlship.resources import data_file

# Minimum Linux x86_64 drivers of each toolkit's GA release (NVIDIA CUDA release notes).
NVIDIA_MIN_DRIVERS = {
    "12.1": "530.30.02",
    "12.4": "550.54.14",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "13.0": "580.65.06",
}


def _raw() -> dict:
    return yaml.safe_load(data_file(gpu.TABLE).read_text())


def test_the_shipped_table_validates_and_records_nvidias_driver_minimums() -> None:
    table = gpu.load_table()
    assert {v: c.min_driver for v, c in table.cuda.items()} == NVIDIA_MIN_DRIVERS


def test_every_torch_build_in_the_table_resolves_to_a_complete_entry() -> None:
    table = gpu.load_table()
    for minor, builds in table.torch.items():
        for cuda in builds.cuda:
            entry = gpu.select(f"{minor}.0", "3.12", cuda)
            assert (
                entry.torch_index_url
                == f"https://download.pytorch.org/whl/cu{cuda.replace('.', '')}"
            )
            assert entry.runtime_image.startswith(f"nvidia/cuda:{cuda}.")
            assert entry.base_image == "python:3.12-slim"


def test_torch_2_5_to_2_8_map_to_their_published_cuda_builds() -> None:
    table = gpu.load_table()
    assert table.torch["2.5"].cuda == ["12.4", "12.1"]
    assert table.torch["2.6"].cuda == ["12.4"]
    assert table.torch["2.7"].cuda == ["12.6"]
    assert table.torch["2.8"].cuda == ["12.8", "12.6"]


def test_the_pinned_torch_selects_a_slim_python_image_and_cuda_from_the_wheels() -> None:
    pinned = load_pins()["torch"]
    entry = gpu.select(pinned, "3.11")
    assert entry.torch_version == pinned
    assert entry.base_image == "python:3.11-slim"
    assert entry.cuda_version == entry.available_cuda[0]
    assert entry.min_driver == NVIDIA_MIN_DRIVERS[entry.cuda_version]
    assert entry.torch_index_url.endswith("/" + entry.cuda_tag)


def test_an_older_cuda_build_can_be_chosen_for_older_drivers() -> None:
    entry = gpu.select("2.13.0", "3.11", "12.6")
    assert (entry.cuda_tag, entry.min_driver) == ("cu126", "560.28.03")
    assert entry.runtime_image == "nvidia/cuda:12.6.3-runtime-ubuntu24.04"


def test_a_cuda_build_torch_does_not_publish_is_refused_with_the_choices() -> None:
    with pytest.raises(InputError) as caught:
        gpu.select("2.13.0", "3.11", "12.8")
    assert caught.value.message.startswith("cuda:")
    assert caught.value.hint == "builds for torch 2.13: 13.0, 12.6"


def test_an_unknown_torch_version_lists_the_known_ones_in_order() -> None:
    with pytest.raises(InputError) as caught:
        gpu.select("1.13.1", "3.11")
    assert "torch 1.13.1" in caught.value.message
    hint = caught.value.hint or ""
    assert hint.startswith("known torch versions: 2.5, 2.6, 2.7, 2.8, 2.9, 2.10")


def test_local_version_tags_are_ignored() -> None:
    assert gpu.torch_minor("2.13.0+cpu") == "2.13"
    with pytest.raises(InputError):
        gpu.torch_minor("latest")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda t: t["cuda"]["12.6"].update(min_drvier="1"), "min_drvier: unknown key"),
        (lambda t: t["torch"]["2.13"].update(cuda=["11.0"]), "unknown CUDA versions"),
        (
            lambda t: t["cuda"]["12.6"].update(runtime_image="nvidia/cuda:12.8.1-runtime-x"),
            "another CUDA version",
        ),
        (lambda t: t.update(schema_version=2), "schema_version"),
    ],
)
def test_a_broken_table_fails_loudly_naming_the_field(change, says: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(KnowledgeBaseError) as caught:
        gpu.parse_table(yaml.safe_dump(raw))
    assert says in str(caught.value)
