"""The ``genre`` command line: run the pipeline, classify files, serve the champion.

Heavy packages (TensorFlow, Prefect, BentoML) are imported only by the command that
needs them, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys

from flows.cli import ingest, models, monitor, pipeline, train, use

EPILOG = """examples:
  genre run                                   # whole pipeline on the SYNTHETIC demo set
  genre run --data ../shared/data/gtzan-mini  # on a folder laid out as <root>/<genre>/<clip>
  genre ingest manifest urls.csv --parallel 8  # download url,label[,start,end] rows with yt-dlp
  genre ingest audioset eval_segments.csv --per-genre 50
  genre run --set cnn.epochs=2 --set classical.search_iterations=8
  genre run --dask-address tcp://10.0.0.5:8786 # feature extraction on an existing Dask cluster
  genre validate                              # re-validate the ingested data; Data Docs in runs/
  genre train-classical --table ../shared/data/gtzan-features/features_30_sec.csv --label-column label
  genre predict song.wav other.mp3            # classify with the champion model
  genre spectrogram song.wav --out pics       # mel spectrogram as a PNG image
  genre serve --port 3000                     # POST /classify with an audio upload
  genre models list                           # every packaged model; * marks the champion
  genre models rollback                       # the previous champion serves again
  genre monitor                               # drift and live accuracy of the served champion; retrain if needed
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genre", description="Turn labelled music into a served genre classifier.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", help="where stores, models and runs live (default: $GENRE_HOME or ./.genre)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for group in (pipeline, ingest, train, models, use, monitor):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
