"""The viewer in a real headless Chromium (Selenium, the system's chromium and chromedriver)."""

import os
import shutil

import pytest

from serving_helpers import films, served_model  # noqa: F401 (fixtures)
from test_server import start_server

webdriver = pytest.importorskip("selenium.webdriver")

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not (CHROMEDRIVER and CHROMIUM):
    if os.environ.get("SKPNEUMO_REQUIRE_BROWSER"):  # .ci/run installs them: missing there is a failure
        pytest.fail("SKPNEUMO_REQUIRE_BROWSER is set but chromium or chromedriver is missing", pytrace=False)
    pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)", allow_module_level=True)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_upload_read_the_probability_toggle_the_overlay_and_see_a_bad_file(served_model, films, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from skpneumo import load_model

    name, data, path = films[0]
    expected = load_model(served_model).predict_proba([path])[0, 1]
    process, url = start_server(served_model)
    try:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: "tiny-model" in d.find_element(By.ID, "model-line").text)
        film = tmp_path / "film.jpeg"
        film.write_bytes(data)
        browser.find_element(By.ID, "picker").send_keys(str(film))
        value = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".film .p-value"))[0]
        assert abs(float(value.text) - expected) < 5e-4
        toggle = browser.find_element(By.CSS_SELECTOR, ".film .overlay-toggle")
        wait.until(lambda d: toggle.is_enabled())
        picture = browser.find_element(By.CSS_SELECTOR, ".film .picture")
        before = picture.get_attribute("src")
        toggle.click()
        assert picture.get_attribute("src") != before and "Grad-CAM" in browser.find_element(
            By.CSS_SELECTOR, ".film .caption").text
        toggle.click()
        assert picture.get_attribute("src") == before

        bad = tmp_path / "broken.png"
        bad.write_bytes(b"\x89PNG this is not a film")
        browser.find_element(By.ID, "picker").send_keys(str(bad))
        message = wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".film .error") if e.text])
        assert "broken.png" in message[0].text
    finally:
        process.terminate()
        process.wait(30)
