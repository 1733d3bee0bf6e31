#!/usr/bin/env python
"""Remake the README's pictures from a demo output and a running Space.

    python tools/demo.py && python docs/make_pictures.py [--demo demo_output]
    python docs/make_pictures.py --space-url http://127.0.0.1:7860/ --space-files DIR   # the Space screenshot

The report picture stacks the matcher's and the whole-image baseline's panels for the
demo's second query; the plot is the matcher's mAP-vs-threshold curve; the comparison is
`pixret compare` of the matcher and the query-box transfer (hard protocol: the bootstrap
distribution of the difference of each headline figure). The screenshot
drives headless Chromium (Debian's chromium + chromedriver, selenium from PyPI) against
the Space running locally: it uploads the demo matcher's files, clicks Evaluate and
saves the page once the results are shown.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SCREENSHOT_HEIGHT = 1800  # the top of the page: inputs, figures with intervals, breakdown, oracles


def report_picture(demo: Path) -> None:
    panels = [Image.open(demo / "report" / f"{name}_q001.png").convert("RGB")
              for name in ("matcher__harris___ransac", "whole_image")]
    width = max(p.width for p in panels)
    picture = Image.new("RGB", (width, sum(p.height for p in panels) + 8), "white")
    picture.paste(panels[0], (0, 0))
    picture.paste(panels[1], (0, panels[0].height + 8))
    picture.save(HERE / "demo_report.jpg", quality=85)
    shutil.copy(demo / "report" / "matcher__harris___ransac" / "map_vs_threshold.png",
                HERE / "demo_map_vs_threshold.png")


def compare_pictures(demo: Path) -> None:
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        plots = Path(tmp) / "plots"
        subprocess.run([sys.executable, "-c", "from pixret.cli import main; raise SystemExit(main())", "compare",
                        "--dataset", str(demo / "dataset"), "--predictions", str(demo / "matcher/predictions.json"),
                        str(demo / "box_transfer/predictions.json"), "--ranks", str(demo / "matcher/ranks.npy"),
                        str(demo / "box_transfer/ranks.npy"), "--names", "matcher", "box-transfer", "--protocols",
                        "hard", "--plots", str(plots)], check=True, capture_output=True)
        shutil.copy(plots / "bootstrap_hard.png", HERE / "compare_hard.png")


def space_screenshot(url: str, files: Path, out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1400", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(url)
        wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Evaluate']")))
        uploads = driver.find_elements(By.CSS_SELECTOR, "input[type=file]")
        uploads[0].send_keys(str((files / "predictions.json").resolve()))
        uploads[1].send_keys(str((files / "ranks.npy").resolve()))
        for name in ("predictions.json", "ranks.npy"):
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"td.filename[aria-label='{name}']")))
        time.sleep(1)  # the uploads settle
        driver.find_element(By.XPATH, "//button[normalize-space()='Evaluate']").click()
        wait.until(lambda d: d.execute_script(
            "return !!document.querySelector('table') && !!document.querySelector('.thumbnail-item img');"))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, max(900, height + 40))
        time.sleep(2)  # the gallery's images load once they are in the (now whole-page) window
        driver.save_screenshot(str(out))
        page = Image.open(out)
        page.crop((0, 0, page.width, min(page.height, SCREENSHOT_HEIGHT))).save(out)  # the figures and tables
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("demo_output"))
    parser.add_argument("--space-url", help="take the Space screenshot from this running app")
    parser.add_argument("--space-files", type=Path, help="folder with predictions.json and ranks.npy to upload")
    args = parser.parse_args()
    if args.space_url:
        space_screenshot(args.space_url, args.space_files or args.demo / "matcher", HERE / "space.png")
    else:
        report_picture(args.demo)
        compare_pictures(args.demo)


if __name__ == "__main__":
    main()
