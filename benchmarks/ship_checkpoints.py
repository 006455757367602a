"""Export trained coin-game agents from trainer checkpoints into the package's shipped folder.

    python -m benchmarks.ship_checkpoints --run runs/coin/fast_lola-lola_seed2 --name lola-dice-fast-250 \\
        --preset fast --method lola_dice --seed 2

Rebuilds the two CoinLOLAAgents of a ``benchmarks.coin_lola`` run (agent seeds
2*seed and 2*seed+1, as that script builds them), loads their state from the
run's ``checkpoint.pt`` (read with ``weights_only=True``) and saves each with
``agent.save`` under ``lola_agents/checkpoints/coin/<name>/player_<i>``, with the
env options they were trained in and the provenance (``source.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lola_agents.checkpoint import restore_in_memory_state
from lola_agents.coin_lola import CoinLOLAAgent, preset
from lola_agents.trainer import CHECKPOINT_FILE, load_checkpoint

SHIPPED = Path(__file__).resolve().parent.parent / "lola_agents" / "checkpoints" / "coin"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="run folder holding checkpoint.pt")
    parser.add_argument("--name", required=True, help="folder name under lola_agents/checkpoints/coin")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--method", default="lola_dice")
    parser.add_argument("--seed", type=int, required=True, help="the run's --seed")
    parser.add_argument("--command", default="", help="the command that trained the run (provenance)")
    args = parser.parse_args(argv)
    payload = load_checkpoint(args.run / CHECKPOINT_FILE)
    setting = preset(args.preset, method=args.method)
    out = SHIPPED / args.name
    for seat, saved in enumerate(payload["agents"]):
        agent = CoinLOLAAgent(setting.agent, seed=2 * args.seed + seat)
        if saved["kind"] != "state_dict":
            raise ValueError(f"{args.run}: agent {seat} was not checkpointed as a state dict")
        restore_in_memory_state(agent, saved, args.run / CHECKPOINT_FILE)  # checked against the agent
        agent.save(out / f"player_{seat}")
    (out / "env_options.json").write_text(json.dumps(setting.env_kwargs()))
    source = {"run": str(args.run), "updates": int(payload["update"]), "preset": args.preset,
              "method": args.method, "seed": args.seed, "command": args.command}
    (out / "source.json").write_text(json.dumps(source, indent=1))
    print(f"shipped {out} from {args.run} at update {source['updates']}")


if __name__ == "__main__":
    main()
