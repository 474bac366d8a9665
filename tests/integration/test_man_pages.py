"""The man pages tpkg(1) and tpkgfs(1) and the bash completion (doc/man, doc/completion)
against the binaries' --help: every command and option --help shows is documented and
completed; the pages render without groff warnings; meson install installs them."""
import json
import pathlib
import re
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MAN = REPO / "doc" / "man"
COMPLETION = REPO / "doc" / "completion"


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                          **kwargs)


def man_text(name):
    """The page's words with roff's font and dash escapes removed."""
    text = (MAN / name).read_text(encoding="utf-8")
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-")


def tpkg_commands(tpkg_bin):
    help_text = run(tpkg_bin, "--help").stdout
    return re.findall(r"^  tpkg (\S+)", help_text, re.M)


def help_options(help_text):
    """Every -x and --long option of a boost::program_options help text."""
    options = set()
    for line in help_text.splitlines():
        m = re.match(r"^  (-\w)? ?(?:\[ )?(--[\w-]+)?", line)
        if m:
            options.update(o for o in m.groups() if o)
    return options


def test_tpkg_page_documents_every_command_and_option(tpkg_bin):
    page = man_text("tpkg.1")
    commands = tpkg_commands(tpkg_bin)
    assert {"info", "modules", "deps", "tree", "help", "ls", "cat"} <= set(commands)
    for command in commands:
        assert re.search(rf"^\.TP\n{re.escape(command)} ", page, re.M), command
        options = help_options(run(tpkg_bin, command, "--help").stdout)
        for option in options:
            assert option in page, (command, option)
        if "--json" in options:
            assert re.search(rf"^\.B {command}$", page, re.M), f"no JSON schema for {command}"
    for option in help_options(run(tpkg_bin, "--help").stdout):
        assert option in page


def test_tpkgfs_page_documents_every_option_and_mount_option(build_dir):
    help_text = run(build_dir / "src" / "fs" / "tpkgfs", "--help").stdout
    page = man_text("tpkgfs.1")
    options = help_options(help_text.split("Mount options")[0])
    assert {"-u", "--unmount", "-o", "--options"} <= options
    for option in options:
        assert option in page, option
    mount_options = re.findall(r"^  ([a-z_]+)(?:\s|=)", help_text.split("Mount options")[1], re.M)
    assert {"strict", "nostrict", "ro", "rw"} <= set(mount_options)
    for option in mount_options:
        assert re.search(rf"^\.B {option}$|{option}=", page, re.M), option


@pytest.mark.parametrize("page", ["tpkg.1", "tpkgfs.1"])
def test_pages_render_without_warnings(page):
    result = run("groff", "-man", "-ww", "-z", "-Tutf8", MAN / page,
                 env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stderr == ""


def complete(script, words, cword):
    """COMPREPLY of the completion in `script` for `words` (bash-completion's helpers stubbed)."""
    stubs = ("_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; "
             "prev=${COMP_WORDS[COMP_CWORD-1]}; words=(\"${COMP_WORDS[@]}\"); cword=$COMP_CWORD; }\n"
             "_filedir() { COMPREPLY=(FILES); }\ncompopt() { :; }\n")
    words_text = " ".join(f"'{w}'" for w in words)
    program = (f"{stubs}source {script}\nCOMP_WORDS=({words_text}); COMP_CWORD={cword}\n"
               f"_{words[0]}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"")
    result = run("bash", "-c", program)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_tpkg_completion_knows_every_command_and_option(tpkg_bin, tmp_path):
    script = COMPLETION / "tpkg"
    commands = tpkg_commands(tpkg_bin)
    assert sorted(complete(script, ["tpkg", ""], 1)) == sorted(commands)
    assert sorted(complete(script, ["tpkg", "help", ""], 2)) == sorted(commands)
    for command in commands:
        options = {o for o in help_options(run(tpkg_bin, command, "--help").stdout)
                   if o != "-h"}
        assert options <= set(complete(script, ["tpkg", command, "-"], 2)), command
    assert complete(script, ["tpkg", "tree", "--exclude", ""], 3) == []
    assert complete(script, ["tpkg", "info", "m"], 2) == ["FILES"]


def test_tpkgfs_completion_knows_every_option(build_dir):
    help_text = run(build_dir / "src" / "fs" / "tpkgfs", "--help").stdout
    options = help_options(help_text.split("Mount options")[0])
    assert options <= set(complete(COMPLETION / "tpkgfs", ["tpkgfs", "-"], 1))
    assert "nostrict" in complete(COMPLETION / "tpkgfs", ["tpkgfs", "-o", "ro,nos"], 2)[0]


def test_meson_installs_pages_and_completion(build_dir):
    installed = json.loads(run("meson", "introspect", "--installed", build_dir).stdout)
    targets = set(installed.values())
    for want in ("share/man/man1/tpkg.1", "share/man/man1/tpkgfs.1",
                 "share/bash-completion/completions/tpkg",
                 "share/bash-completion/completions/tpkgfs"):
        assert any(t.endswith(want) for t in targets), want
