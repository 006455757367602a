"""Old import path, kept working: this module is :mod:`lola_agents.learners.ppo`."""

import sys

from lola_agents.learners import ppo as _module

sys.modules[__name__] = _module
