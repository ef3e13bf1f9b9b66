"""``mlship check``: is a project still on the golden path?

The rules are data (``mlship/data/checks.yaml``, extended by an organisation's
``<patterns-dir>/checks/*.yaml``); each names a check function of this package. The
runner applies the rules that fit the project's pattern, then the project's waivers.
"""

from mlship.lifecycle.check.runner import check_project

__all__ = ["check_project"]
