"""``python fit_entry.py DATA WORKDIR [FIELD=VALUE ...]``: the fit-tokenizer and fit-model stages
(viper.core.fitting, as ``viper-run fit-model`` runs them) with the block tokenizer, on a private
plugin host. Tests start it in a subprocess to kill it mid-training."""

from __future__ import annotations

import sys

from viper.core.fitting import fit_tokenizer, fit_video_model
from viper.videomodels.testing import synthetic_host


def main(argv: list[str]) -> None:
    data, workdir, *assignments = argv
    options = dict(item.split("=", 1) for item in assignments)
    host = synthetic_host()
    fit_tokenizer(data, workdir, name="block", host=host, progress=False)
    artifact = fit_video_model(workdir, data, options=options, host=host, progress=False)
    print(f"video model saved in {artifact}")


if __name__ == "__main__":
    main(sys.argv[1:])
