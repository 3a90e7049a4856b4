"""The configuration examples in the documentation are what an administrator copies:
every ```toml block of README.md must pass `mailseal check-config`."""

import re
import subprocess

from harness import MAILSEAL_BIN, SOURCE_DIR


def test_readme_configuration_examples_validate(tmp_path):
    blocks = re.findall(r"```toml\n(.*?)```", (SOURCE_DIR / "README.md").read_text(), re.S)
    assert blocks, "README.md has no ```toml example"
    for i, block in enumerate(blocks):
        f = tmp_path / f"readme{i}.toml"
        f.write_text(block)
        r = subprocess.run([MAILSEAL_BIN, "check-config", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, f"README example {i}: {r.stderr}"
