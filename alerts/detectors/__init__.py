"""One module per detector kind; each implements `Detector`."""

from alerts.native import use

use(__path__, "detectors")  # as `alerts/__init__.py`
