"""Old import path, kept working: this module is :mod:`lola_agents.policies.coin`."""

import sys

from lola_agents.policies import coin as _module

sys.modules[__name__] = _module
