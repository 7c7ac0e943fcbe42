#!/usr/bin/python3
"""Make (or pick) a cohort on tributary-server, export it, and load every NIfTI with nibabel.

    PYTHONPATH=build/clients/python /usr/bin/python3 clients/python/examples/export_cohort.py \
        --server tributary.example.org:50051 --tls-ca ca.pem --token-file ~/.tributary/token \
        --name "t1 adults" --filter modality=MR --filter age=18.. --exclude-duplicates \
        --out t1-adults/

With --cohort ID instead of --name, exports an existing cohort. Running it again with the same
--cohort and --out resumes: only missing or damaged files are sent. Prints the cohorts, one line
per NIfTI (path, shape, voxel size in mm) and the export summary as JSON. Exit status 0 on
success, 1 when the server or the export refused, 2 for a token or TLS file that cannot be used.
"""

import argparse
import glob
import json
import os
import sys

import nibabel

from tributary_client import Client, ConfigurationError, TributaryError


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="HOST:PORT (default: $TRIBUTARY_SERVER, else "
                                         "127.0.0.1:50051)")
    parser.add_argument("--token-file", help="the researcher's token, mode 0600 (default: "
                                             "$TRIBUTARY_TOKEN)")
    parser.add_argument("--tls-ca", help="CA of the server's certificate (default: "
                                         "$TRIBUTARY_TLS_CA)")
    parser.add_argument("--tls-cert", help="client certificate, mutual TLS")
    parser.add_argument("--tls-key", help="its private key, mode 0600")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--cohort", type=int, help="export this existing cohort")
    which.add_argument("--name", help="create a cohort of this name from the filters")
    parser.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                        help="with --name: a filter (docs/COHORTS.md); repeatable")
    parser.add_argument("--exclude-duplicates", action="store_true",
                        help="with --name: one copy of a study that several centres sent")
    parser.add_argument("--out", required=True, help="folder to export into (resumed if it "
                                                     "holds an earlier export of the cohort)")
    args = parser.parse_args()

    try:
        client = Client(args.server, token_file=args.token_file, tls_ca=args.tls_ca,
                        tls_cert=args.tls_cert, tls_key=args.tls_key)
    except ConfigurationError as error:
        print(f"export_cohort: {error}", file=sys.stderr)
        return 2
    with client:
        try:
            for cohort in client.list_cohorts():
                print(f"cohort {cohort['id']} {cohort['name']!r}: {cohort['volume_count']} "
                      f"volumes, {cohort['subject_count']} subjects, "
                      f"{cohort['centre_count']} centres")
            if args.name is not None:
                cohort = client.create_cohort(args.name, args.filter, args.exclude_duplicates)
                print(f"created cohort {cohort['id']} {cohort['name']!r}: "
                      f"{cohort['volume_count']} volumes")
                cohort_id = cohort["id"]
            else:
                cohort_id = args.cohort
            summary = client.export(cohort_id, args.out, progress=show_progress)
            if sys.stderr.isatty():
                print(file=sys.stderr)
        except TributaryError as error:
            print(f"\nexport_cohort: {error}", file=sys.stderr)
            return 1

    for path in sorted(glob.glob(os.path.join(args.out, "sub-*", "**", "*.nii.gz"),
                                 recursive=True)):
        image = nibabel.load(path)
        zooms = ", ".join(f"{z:g}" for z in image.header.get_zooms()[:3])
        print(f"{os.path.relpath(path, args.out)} shape={image.shape} mm=({zooms})")
    print(json.dumps(summary))
    return 0


def show_progress(files_done, files_total, bytes_done, bytes_total):
    """A one-line progress counter on standard error, on a terminal only."""
    if sys.stderr.isatty():
        print(f"\r{files_done}/{files_total} files, {bytes_done / 1e6:.1f}/"
              f"{bytes_total / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
