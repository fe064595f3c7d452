"""Entry point for ``python -m coldstart``: same as ``kedro run`` from the project root."""

import sys
from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs):
    from coldstart.packaged import use_conf_source_logging
    from coldstart.quiet import silence_known_noise

    silence_known_noise()  # before find_run_command imports the plugins (coldstart/quiet.py)
    # run elsewhere with --conf-source: the project's logging.yml, not Kedro's default
    use_conf_source_logging(list(args[0]) if args else sys.argv[1:])
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    run = find_run_command(package_name)
    run(*args, **kwargs)


if __name__ == "__main__":
    main(sys.argv[1:])
