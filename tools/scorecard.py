"""The course-wide reproduction scorecard, built from the executed notebooks' findings.

    python tools/scorecard.py            # print the table (Markdown)
    python tools/scorecard.py --write    # put it into README.md between the scorecard markers
    python tools/scorecard.py --check    # exit 1 when README.md's table differs from the notebooks'

Every notebook's "What we saw" cell writes its findings (``lecture_utils.findings``) into its
outputs under the MIME type ``application/vnd.lecture-suite.findings+json``; this tool reads them
from the committed ``.ipynb`` files, so the scorecard is exactly what the runs printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lecture_utils.findings import Interval, fmt  # noqa: E402  (light: no torch)

MIME = "application/vnd.lecture-suite.findings+json"
START, END = "<!-- scorecard:start -->", "<!-- scorecard:end -->"


def records(folder: Path = ROOT / "notebooks", files=None) -> list[dict]:
    """The findings of every executed notebook in ``folder`` (or of the notebooks ``files``), in
    notebook order."""
    out = []
    for path in sorted(files if files is not None else folder.glob("*.ipynb")):
        path = Path(path)
        nb = json.loads(path.read_text())
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                payload = output.get("data", {}).get(MIME)
                if payload:
                    for f in payload["findings"]:
                        out.append(dict(f, notebook_file=path.name))
    return out


def _fmt(value, unit):
    """``findings.fmt``, with "pts" for "points" to keep the table narrow."""
    return fmt(value, unit).replace(" points", " pts")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(recs: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in recs)
              for v in ("reproduced", "not reproduced", "inconclusive")}
    lines = [f"{len(recs)} findings: {counts['reproduced']} reproduced, "
             f"{counts['not reproduced']} not reproduced, {counts['inconclusive']} inconclusive "
             "at our scale (95% intervals).", "",
             "| paper | claim | paper's number | ours [95% interval] | control | verdict "
             "| notebook |",
             "|---|---|---|---|---|---|---|"]
    for r in recs:
        o = r.get("ours")
        if not o:
            ours = "-"
        elif Interval(**o).one_run:
            ours = f"{_fmt(o['estimate'], r['unit'])} (one run, no interval)"
        else:
            ours = (f"{_fmt(o['estimate'], r['unit'])} [{_fmt(o['low'], r['unit'])}, "
                    f"{_fmt(o['high'], r['unit'])}]")
        nb = r["notebook_file"]
        lines.append(f"| {_cell(r['paper'])} | {_cell(r['claim'])} | "
                     f"{_cell(r.get('paper_value') or '-')} | {ours} | {_cell(r['control'])} | "
                     f"**{r['verdict']}** | [{nb[:2]}](notebooks/{nb}) |")
    return "\n".join(lines)


def readme_section(text: str) -> str | None:
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    current = table(records())
    readme = ROOT / "README.md"
    if args.write:
        text = readme.read_text()
        if readme_section(text) is None:
            print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = text.split(START, 1)
        readme.write_text(head + START + "\n" + current + "\n" + END + rest.split(END, 1)[1])
        return 0
    if args.check:
        section = readme_section(readme.read_text())
        if section != current.strip():
            print("README.md's scorecard differs from the notebooks' findings: run "
                  "`python tools/scorecard.py --write`.", file=sys.stderr)
            return 1
        return 0
    print(current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
