#!/usr/bin/env python3
"""Board side: time an ops bundle and write a latency table. Needs numpy + onnxruntime (or TensorRT),
never torch, and runs on Python 3.8 (JetPack 5).

    python tools/profile_board.py BUNDLE_DIR --target cpu-x86-ort-fp32 --out TABLE.json

Kill it at any time; running the same command again resumes from the last checkpoint.
"""

import argparse
import os
import sys

try:
    import edgenas  # noqa: F401
except ImportError:  # run from a copied checkout without pip install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edgenas.errors import EdgenasError  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", help="ops bundle directory written by 'edgenas profile plan'")
    p.add_argument("--target", required=True, help="target name or YAML path")
    p.add_argument("--out", required=True, help="latency table JSON to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        from edgenas.latency.board import load_manifest, profile_bundle
        from edgenas.targets import load_target, target_from_dict

        manifest = load_manifest(args.bundle)
        try:
            target = load_target(args.target)
        except EdgenasError:
            # A board may lack PyYAML or the targets/ folder: the bundle carries its planned target.
            if args.target != manifest["target"]["name"]:
                raise
            target = target_from_dict(manifest["target"], where="bundle manifest target")
        table = profile_bundle(args.bundle, target, args.out, seed=args.seed,
                               show_progress=not args.quiet)
    except EdgenasError as e:
        sys.stderr.write("profile_board: error: {}\n".format(e))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("profile_board: interrupted; run the same command to resume\n")
        return 130
    print("\n".join(table.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
