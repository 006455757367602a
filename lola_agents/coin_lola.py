"""Old import path, kept working: this module is :mod:`lola_agents.learners.coin`."""

import sys

from lola_agents.learners import coin as _module

sys.modules[__name__] = _module
