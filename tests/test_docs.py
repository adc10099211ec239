"""The documentation says what the code does: the configuration reference is generated from the
settings' declarations, every command's help is complete, and the README's set-up commands are
the ones CI runs."""

import argparse
import re
from pathlib import Path


from mckd import configdoc
from mckd.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_the_configuration_page_is_the_generated_reference():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert configdoc.render() in page, (
        "docs/configuration.md differs from the settings' declarations: run "
        "`python -m mckd.configdoc --write`")


def test_every_setting_says_what_it_does():
    missing = [k for _, _, rows in configdoc.sections() for k, _, _, _, h in rows if not h]
    assert missing == [], f"settings declared without a comment: {missing}"


def test_every_command_and_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    bare = []
    for name, p in sub.choices.items():
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sname, sp in a.choices.items():
                    bare += [f"{name} {sname} {b.dest}" for b in sp._actions
                             if b.help in (None, "") and b.dest != "help"]
                continue
            if a.help in (None, "") and a.dest != "help":
                bare.append(f"{name} {'/'.join(a.option_strings) or a.dest}")
        p.format_help()  # renders
    assert bare == [], f"options without help: {bare}"


def test_readme_names_every_command_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"mckd {name}" in readme, name
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_readme_setup_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    # a command may continue over lines ending in a backslash
    cmds = [re.sub(r" *\\\n *", " ", "\n".join(ln for ln in b.splitlines() if not ln.startswith("#"))).strip()
            for b in blocks[:2]]
    assert len(cmds) == 2, cmds
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert cmds[1] in ci.splitlines(), "README command 2 and .ci/run's test command differ"
    assert cmds[1].endswith("python -m pytest -q")
