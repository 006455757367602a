"""Old import path, kept working: this module is :mod:`lola_agents.learners.pg`."""

import sys

from lola_agents.learners import pg as _module

sys.modules[__name__] = _module
