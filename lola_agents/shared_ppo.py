"""Old import path, kept working: this module is :mod:`lola_agents.learners.shared_ppo`."""

import sys

from lola_agents.learners import shared_ppo as _module

sys.modules[__name__] = _module
