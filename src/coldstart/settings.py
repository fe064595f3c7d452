"""Kedro project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

from coldstart.determinism import DeterminismHooks
from coldstart.hooks import CheckInputsHooks
from coldstart.timing import NodeTimingHooks

# kedro-mlflow's hooks register themselves through its plugin entry point
HOOKS = (DeterminismHooks(), CheckInputsHooks(), NodeTimingHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # kedro-mlflow reads conf/<env>/mlflow.yml through the config loader
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
}
