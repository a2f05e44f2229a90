"""The GIMP pictures of docs/gimp.md, from a real GIMP 3 (its GUI under Xvfb, in the chroot):

.venv/bin/python tests/gimp/make_screenshots.py docs/images
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
import gimp_harness as harness  # noqa: E402

from server.testing import ServerProcess  # noqa: E402

DATA = HERE.parent.parent.parent / "shared" / "data"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    work = Path("/tmp/nst-gimp-shots")
    work.mkdir(exist_ok=True)
    Image.open(DATA / "chelsea.png").convert("RGB").resize((600, 400)).save(work / "cat.png")
    shutil.copy(DATA / "starry_night.jpg", work / "starry_night.jpg")
    with ServerProcess() as server:
        spec = {
            "image": str(work / "cat.png"),
            "styles": [str(work / "starry_night.jpg")],
            "files": [str(work / "cat.png"), str(work / "starry_night.jpg")],
            "server": server.url,
            "quality": "draft",
        }
        report, output, folder = harness.run_gimp(
            HERE / "screenshots_driver.py", spec, timeout=400, gui=True
        )
    print(report or output[-3000:])
    for name in ("gimp_result.png", "gimp_dialog.png"):
        shot = folder / "out" / name
        if shot.is_file():  # cropped to GIMP's window: the virtual screen is larger
            picture = Image.open(shot).convert("RGB")
            picture.crop(picture.getbbox()).save(target / name, optimize=True)
            print("wrote", target / name)


if __name__ == "__main__":
    main()
