"""Kedro project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

from coldstart.backend import BackendHooks
from coldstart.config_hooks import MlflowStoreHooks, RuntimeParamsHooks
from coldstart.determinism import DeterminismHooks
from coldstart.hooks import CheckInputsHooks, RunGuardHooks, RunVersionsHooks
from coldstart.quiet import silence_known_noise
from coldstart.rows import RowsHooks
from coldstart.spark.session import SparkHooks
from coldstart.timing import NodeTimingHooks

silence_known_noise()

# kedro-mlflow's hooks register themselves through its plugin entry point, after these:
# pluggy calls the last registered first, so a plain hook here runs after kedro-mlflow's;
# RunGuardHooks wraps before_pipeline_run to act before it (see coldstart.hooks).
HOOKS = (
    # before kedro-mlflow's: a --params typo stops the session; the store is the project's
    RuntimeParamsHooks(),
    MlflowStoreHooks(),
    RunGuardHooks(),
    RowsHooks(),
    RunVersionsHooks(),
    # the Keras backend before determinism: both act before any node imports Keras
    BackendHooks(),
    DeterminismHooks(),
    CheckInputsHooks(),
    NodeTimingHooks(),
    # starts Spark only when a backend parameter says `spark` (conf/spark/)
    SparkHooks(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # kedro-mlflow reads conf/<env>/mlflow.yml through the config loader
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
        # Kedro's PySpark convention: the session's settings in conf/<env>/spark.yml
        "spark": ["spark*", "spark*/**"],
    },
}
