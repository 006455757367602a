"""Old import path, kept working: this module is :mod:`lola_agents.learners.opponent_model`."""

import sys

from lola_agents.learners import opponent_model as _module

sys.modules[__name__] = _module
