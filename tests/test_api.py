"""The public plugin API is pinned: changing ``gan.api.__all__`` is a deliberate diff of
this list (as TF-GAN pins the symbols it exposes)."""

from __future__ import annotations

import subprocess
import sys

import gan.api

API = [
    "BuildContext",
    "CheckpointError",
    "Component",
    "DataContext",
    "DataError",
    "DataSource",
    "Draw",
    "Engine",
    "Evaluation",
    "GanEngineSpecs",
    "GanError",
    "GanEventSpecs",
    "GanHookSpecs",
    "KEEPS_INIT",
    "Loss",
    "LossParams",
    "Metric",
    "Network",
    "NoParams",
    "NodeRef",
    "Op",
    "Optimizer",
    "OptimizerContext",
    "Params",
    "PluginError",
    "Registry",
    "Sampler",
    "Spec",
    "SpecError",
    "Trainer",
    "TrainingError",
    "default_registry",
    "hookimpl",
    "load_spec",
    "resolve",
]


def test_the_api_is_pinned():
    assert sorted(gan.api.__all__) == API
    for name in API:
        assert getattr(gan.api, name) is not None, name


def test_import_gan_is_light_and_installs_no_aliases():
    # a fresh process: `import gan` loads neither torch nor any old-path alias finder
    code = (
        "import gan, sys\n"
        "assert 'gan._compat' not in sys.modules\n"
        "assert 'torch' not in sys.modules, 'import gan loaded torch'\n"
        "assert gan.__version__\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
