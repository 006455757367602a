"""Old import path, kept working: this module is :mod:`lola_agents.learners.exact`."""

import sys

from lola_agents.learners import exact as _module

sys.modules[__name__] = _module
