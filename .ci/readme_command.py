"""Print the README's Nth ```bash block (1: install and crawl, 2: the tests), so CI runs it as written."""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands(text: str) -> list[str]:
    """The README's ```bash blocks, in order."""
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


if __name__ == "__main__":
    print(readme_commands(README.read_text(encoding="utf-8"))[int(sys.argv[1]) - 1])
