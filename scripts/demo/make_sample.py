"""Write a small sample torch.package with real PyTorch: interned model code,
an externed numpy, a pickled nn.Module with storages and a text resource.

Usage: /usr/bin/python3 scripts/demo/make_sample.py OUT.pt
"""
import pathlib
import sys
import tempfile
import textwrap

import torch
from torch.package import PackageExporter

SOURCES = {
    "demo_models/__init__.py": "DEFAULT_HIDDEN = 8\n",
    "demo_models/layers.py": textwrap.dedent("""\
        import torch
        from torch import nn


        class Scale(nn.Module):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def forward(self, x):
                return x * self.factor
        """),
    "demo_models/net.py": textwrap.dedent("""\
        import numpy as np
        import torch
        from torch import nn

        from . import layers
        from demo_models import DEFAULT_HIDDEN


        class TinyNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, DEFAULT_HIDDEN)
                self.scale = layers.Scale(0.5)
                self.labels = np.array(["a", "b"])

            def forward(self, x):
                return self.scale(self.fc(x))
        """),
}


def main(out):
    with tempfile.TemporaryDirectory() as src:
        for rel, text in SOURCES.items():
            path = pathlib.Path(src, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        sys.path.insert(0, src)
        from demo_models.net import TinyNet

        torch.manual_seed(0)
        with PackageExporter(out) as exporter:
            exporter.extern("numpy.**")
            exporter.intern("demo_models.**")
            exporter.save_text("notes", "README.txt", "A sample package mounted by tpkgfs.\n")
            exporter.save_pickle("model", "model.pkl", TinyNet())


if __name__ == "__main__":
    main(sys.argv[1])
