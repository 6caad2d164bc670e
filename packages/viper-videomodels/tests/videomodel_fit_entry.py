"""``python videomodel_fit_entry.py DATA WORKDIR [FIELD=VALUE ...]``: the fit-tokenizer and fit-model stages
(viper.core.fitting, as ``viper-run fit-model`` runs them) with the block tokenizer, on a private
plugin host. Tests start it in a subprocess to kill it mid-training."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from videomodel_synthetic import test_host  # noqa: E402

from viper.core.fitting import fit_tokenizer, fit_video_model  # noqa: E402


def main(argv: list[str]) -> None:
    data, workdir, *assignments = argv
    options = dict(item.split("=", 1) for item in assignments)
    host = test_host()
    fit_tokenizer(data, workdir, name="block", host=host, progress=False)
    artifact = fit_video_model(workdir, data, options=options, host=host, progress=False)
    print(f"video model saved in {artifact}")


if __name__ == "__main__":
    main(sys.argv[1:])
