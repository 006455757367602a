"""Old import path, kept working: this module is :mod:`lola_agents.learners.dice`."""

import sys

from lola_agents.learners import dice as _module

sys.modules[__name__] = _module
