#!/usr/bin/env python3
"""Development benchmark of recognition on real message-board posts (not a CI test).

    python3 benches/real-posts.py ../shared/real [--yujing PATH] [--labels FILE] [--keep DIR] [--config FILE]

Turns the posts of the folder (messages-*.csv: message_id, user, title, time, text) into hotline exports the way
a centre would receive them (the account id as the caller, no phone, the board's category or a generic word as
the category), in two layouts: the title in the address field (`sjdz`), and no address with the title at the
head of the content. Runs `yujing replay` on each and scores the clusters against hand-made groups of message
ids (benches/real/labels.tsv): pairwise precision and recall over the labelled messages (every unlisted message
counts as alone, so precision is a lower bound), the share of groups kept whole, how many clusters, and
warnings per 1,000 messages. Nothing of the posts is written outside a temporary folder.
"""

import argparse
import csv
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def read_posts(folder):
    posts = {}
    for path in sorted(pathlib.Path(folder).glob("messages-*.csv")):
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                posts.setdefault(row["message_id"], row)
    return sorted(posts.values(), key=lambda r: (r["time"], r["message_id"]))


def write_export(posts, out_dir, layout):
    out_dir.mkdir(parents=True)
    with open(out_dir / "hotline12345.posts.jsonl", "w", encoding="utf-8") as f:
        for p in posts:
            title, text = p["title"].strip(), p["text"].strip()
            record = {
                "gdbh": "M" + p["message_id"],
                "ldsj": p["time"][:19],
                "gxsj": p["time"][:19],
                "ldrxm": p["user"],
                "ldhm": "",
                "sqlx": "投诉",
                # The board's first-level category where the sample has one: words no table maps.
                "sqlb": p.get("category") or p.get("一级分类") or "网络问政",
                "sqnr": text if layout == "title-in-address" else f"{title}。{text}",
                "sjdz": title if layout == "title-in-address" else "",
                "ssjd": "",
                "blzt": "已办结",
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_labels(path):
    groups = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        name, ids, *_ = line.rstrip("\n").split("\t")
        groups.append((name, ["M" + i for i in ids.split()]))
    return groups


def score(replay_dir, groups, n_posts):
    cluster_of = {}
    for line in open(replay_dir / "clusters.jsonl", encoding="utf-8"):
        a = json.loads(line)
        cluster_of[a["source_id"]] = a["cluster_id"]
    warnings = [json.loads(l) for l in open(replay_dir / "warnings.jsonl", encoding="utf-8")]
    group_of = {m: g for g, members in groups for m in members}
    labelled = [m for m in group_of if m in cluster_of]
    true_pairs = predicted_pairs = both = 0
    for a, b in itertools.combinations(sorted(labelled), 2):
        same_truth = group_of[a] == group_of[b]
        same_pred = cluster_of[a] == cluster_of[b]
        true_pairs += same_truth
        predicted_pairs += same_pred
        both += same_truth and same_pred
    # Predicted pairs joining a labelled message with any other message (labelled or not).
    members = {}
    for m, c in cluster_of.items():
        members.setdefault(c, []).append(m)
    outside = sum(
        1
        for m in labelled
        for other in members[cluster_of[m]]
        if other != m and group_of.get(other) != group_of[m]
    )
    whole = sum(1 for _, ms in groups if len({cluster_of.get(m) for m in ms}) == 1)
    sizes = sorted((len(v) for v in members.values()), reverse=True)
    return {
        "messages": n_posts,
        "clusters": len(members),
        "largest clusters": sizes[:5],
        "labelled pairs": true_pairs,
        "pair recall": round(both / true_pairs, 3) if true_pairs else None,
        "pair precision (labelled)": round(both / predicted_pairs, 3) if predicted_pairs else None,
        "links of labelled posts to other problems": outside,
        "groups kept whole": f"{whole}/{len(groups)}",
        "warnings": len(warnings),
        "warnings per 1000 messages": round(1000 * len(warnings) / n_posts, 2),
    }


def main():
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--yujing", default=os.environ.get("YUJING", "yujing"))
    parser.add_argument("--labels", default=str(here / "real" / "labels.tsv"))
    parser.add_argument("--keep", help="keep the exports and replays in this folder")
    parser.add_argument("--config", help="a configuration file layered over the built-in one (weights to try)")
    args = parser.parse_args()
    posts = read_posts(args.folder)
    groups = read_labels(args.labels)
    work = pathlib.Path(args.keep) if args.keep else pathlib.Path(tempfile.mkdtemp(prefix="yujing-real-"))
    try:
        for layout in ["title-in-address", "title-in-content"]:
            feeds, out = work / layout / "feeds", work / layout / "replay"
            shutil.rmtree(work / layout, ignore_errors=True)
            write_export(posts, feeds, layout)
            command = [args.yujing, "--demo", "replay", "--feeds", str(feeds), "--out", str(out)]
            if args.config:
                command += ["--config", args.config]
            subprocess.run(
                command,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(layout, json.dumps(score(out, groups, len(posts)), ensure_ascii=False))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
