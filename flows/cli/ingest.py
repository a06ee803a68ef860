"""`genre ingest folder|manifest|audioset`: audio into the store and the catalog."""

from __future__ import annotations

import argparse

from flows.cli.common import config_args, home_dir, parse_overrides, prefect_env

INGEST_EPILOG = """examples:
  genre ingest folder ../shared/data/gtzan-mini
  genre ingest manifest urls.csv --parallel 8 --rate-limit 2M
  genre ingest audioset ../shared/data/audioset/eval_segments.csv --per-genre 20
  genre ingest audioset segs.csv --youtube-url 'http://127.0.0.1:8000/{ytid}.flac'

A manifest row: https://example.org/a.mp3,rock  or  dQw4w9WgXcQ,pop,30,40
"""


_INGEST_FLAGS = {"parallel": "ingest.parallelism", "rate_limit": "ingest.rate_limit", "timeout": "ingest.timeout",
                 "retries": "ingest.retries", "youtube_url": "ingest.youtube_url",
                 "allow_file_urls": "ingest.allow_file_urls", "multi_label": "audioset.multi_label"}


def cmd_ingest(args: argparse.Namespace) -> int:
    prefect_env()
    from flows.ingest import ingest
    from genre.config import IngestSettings

    overrides = parse_overrides(args.set)
    overrides.update({key: getattr(args, flag) for flag, key in _INGEST_FLAGS.items()
                      if getattr(args, flag, None) not in (None, False)})
    summary = ingest(source=args.source, kind=args.kind, labels=getattr(args, "labels", None),
                     index=getattr(args, "index", None), per_genre=getattr(args, "per_genre", None),
                     config=args.config, home=home_dir(args), settings=IngestSettings.from_dotted(overrides))
    print(summary)
    return 1 if summary.failures else 0


def register(sub: argparse._SubParsersAction) -> None:
    ing = sub.add_parser("ingest", help="bring audio into the store and catalog (folder | manifest | audioset)",
                         description="Store audio once under its sha256 and record one catalog row per item, as "
                                     "the Prefect flow 'ingest'. Reruns skip what is done; failures are rows with "
                                     "a reason and the batch goes on. Exit status 1 when any item failed.",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INGEST_EPILOG)
    kinds = ing.add_subparsers(dest="kind", required=True, metavar="KIND")
    folder = kinds.add_parser("folder", help="a folder laid out as <root>/<genre>/<clip>",
                              description="Labels come from the folder names, normalised ('Hip Hop' -> hip-hop). "
                                          "Files are stored as they are (wav, flac, mp3, ogg, au; m4a/webm via ffmpeg).")
    folder.add_argument("source", metavar="ROOT", help="the folder")
    folder.add_argument("--labels", metavar="CSV", help="file,label CSV (paths relative to ROOT) overriding labels")
    manifest = kinds.add_parser("manifest", help="a CSV of url,label[,start,end] rows, downloaded with yt-dlp",
                                description="Each row: an http(s) URL or a YouTube id/URL, a label and optionally "
                                            "start,end seconds. Best audio is downloaded (only [start, end] when "
                                            "given), converted to lossless FLAC at ingest.sample_rate, and stored by "
                                            "content hash. file:// URLs are refused unless --allow-file-urls.")
    manifest.add_argument("source", metavar="CSV", help="the manifest")
    audioset = kinds.add_parser("audioset", help="an AudioSet segment CSV, mapped to genres, downloaded with yt-dlp",
                                description="Reads YTID, start_seconds, end_seconds, positive_labels rows and "
                                            "class_labels_indices.csv (beside the CSV unless --index), maps ontology "
                                            "classes to genres (config section 'audioset'; default: the seven of "
                                            "Pop, Rock, Hip hop, Techno, Rhythm and blues, Vocal, Reggae) and "
                                            "downloads the segments. YouTube needs Deno and yt-dlp[default]; "
                                            "--youtube-url points at a mirror instead.")
    audioset.add_argument("source", metavar="SEGMENTS_CSV", help="e.g. balanced_train_segments.csv")
    audioset.add_argument("--index", metavar="CSV", help="label index (default: class_labels_indices.csv beside it)")
    audioset.add_argument("--per-genre", type=int, metavar="N", help="at most N segments per genre")
    audioset.add_argument("--multi-label", choices=["drop", "first"],
                          help="a clip tagged with several genres: drop it (default) or take the first in the mapping")
    for sp in (folder, manifest, audioset):
        config_args(sp, "ingest.sample_rate=16000")
        sp.set_defaults(func=cmd_ingest)
    for sp in (manifest, audioset):
        sp.add_argument("--parallel", type=int, metavar="N", help="downloads at once (default 4)")
        sp.add_argument("--rate-limit", metavar="RATE", help="bytes/s per download, e.g. 500K or 2M")
        sp.add_argument("--timeout", type=float, metavar="S", help="seconds of silence before an item fails (30)")
        sp.add_argument("--retries", type=int, metavar="N", help="retries of network errors per item (default 2)")
        sp.add_argument("--youtube-url", metavar="TEMPLATE",
                        help="where YouTube ids point, e.g. http://mirror/{ytid}.webm (default: youtube.com)")
    manifest.add_argument("--allow-file-urls", action="store_true", help="accept file:// URLs")
