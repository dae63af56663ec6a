"""The dashboard in a real headless Chromium (Debian's, through its chromedriver) against the real stack: a person
types the API key, watches the cereal estimate run, and reads its estimates, diagnostics and heat maps."""

from __future__ import annotations

import json
import shutil
import time
from typing import Callable, Iterator

import pytest
from live_support import FIXTURES, STARTS, rc_spec
from queue_support import ROOT
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

pytestmark = pytest.mark.queue

ARTIFACTS = ROOT / '.run'


@pytest.fixture(scope='module')
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which('chromium'), shutil.which('chromedriver')
    assert chromium and driver, 'install Debian\'s chromium and chromium-driver (.ci/run does)'
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                     '--window-size=1300,3300'):
        options.add_argument(argument)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    session = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def shown(value: float) -> str:
    """A number as the page shows it (charts.js `format`): 4 significant digits, exponential outside [1e-3, 1e4)."""
    if value == 0:
        return '0'
    if 1e-3 <= abs(value) < 1e4:
        return f'{value:.4g}'
    mantissa, exponent = f'{value:.2e}'.split('e')
    return f'{mantissa}e{int(exponent):+d}'


def wait(browser: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], timeout: float = 30) -> object:
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)


def text(browser: webdriver.Chrome, selector: str) -> str:
    """The rendered text of the first match, read in one step (the page re-renders as events arrive)."""
    return browser.execute_script('return document.querySelector(arguments[0])?.innerText ?? ""', selector)


def console_errors(browser: webdriver.Chrome) -> list[dict]:
    return [entry for entry in browser.get_log('browser') if entry['level'] == 'SEVERE']


@pytest.fixture(scope='module')
def signed_in(browser: webdriver.Chrome, stack) -> webdriver.Chrome:
    """/ui opened and the API key typed into the page once (kept in the browser session from then on)."""
    browser.get(f'{stack.url}/ui')
    wait(browser, lambda b: 'needs an API key' in text(b, '#view'))
    field = browser.find_element(By.ID, 'api-key')
    field.send_keys(stack.api_key, Keys.ENTER)
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, 'table#jobs caption'))
    assert browser.execute_script("return sessionStorage.getItem('blp-api-key')") == stack.api_key
    return browser


@pytest.fixture(scope='module')
def watched(signed_in, stack, client, data) -> dict:
    """The cereal random-coefficients estimate, submitted through the API and watched on its job page until done."""
    browser = signed_in
    job = client.estimate(data['products'], rc_spec(), agent_data=data['agents'], wait=False)
    browser.get(f"{stack.url}/ui#/jobs/{job['id']}")
    wait(browser, lambda b: text(b, '#job-status') == 'succeeded', timeout=600)
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, '#elasticity-heatmap rect.cell')) > 0)
    return job


def test_job_page_follows_the_estimate_live_and_shows_sigma_prices(watched, signed_in, client):
    browser = signed_in
    reference = json.loads((FIXTURES / 'cereal_sigma_prices.json').read_text())['sigma'][1][1]
    sigma = text(browser, 'tr[data-kind="sigma"][data-row="prices"][data-column="prices"] td.value')
    assert sigma == shown(reference) == '6.015'
    results = client.result(watched)
    row = results.to_frame().query("kind == 'sigma' and row == 'prices' and column == 'prices'").iloc[0]
    assert text(browser, 'tr[data-kind="sigma"][data-row="prices"][data-column="prices"] td.se') == shown(row['se'])
    interval = text(browser, 'tr[data-kind="sigma"][data-row="prices"][data-column="prices"] td.ci')
    assert interval == f"[{shown(row['ci_lower'])}, {shown(row['ci_upper'])}]"
    # the convergence trace was drawn from the event stream while the job ran: several iterations, log scale
    iterations = browser.find_elements(By.CSS_SELECTOR, 'details tbody tr')
    assert len(iterations) >= 2
    assert browser.find_element(By.CSS_SELECTOR, '#trace-chart polyline').get_attribute('points').count(',') >= 2
    assert 'log scale' in browser.find_element(By.ID, 'trace-chart').text
    diagnostics = text(browser, '#diagnostics')
    assert 'Converged\nyes' in diagnostics and 'Hessian eigenvalues' in diagnostics
    bars = browser.find_elements(By.CSS_SELECTOR, '#contraction-histogram rect.bar')
    assert sum(int(bar.find_element(By.TAG_NAME, 'title').get_attribute('textContent').split(': ')[1])
               for bar in bars) == 94  # every market counted once


def test_heat_map_has_a_cell_per_product_pair_and_reads_by_keyboard(watched, signed_in, client):
    browser = signed_in
    Select(browser.find_element(By.ID, 'market')).select_by_value('C01Q2')
    wait(browser, lambda b: 'C01Q2' in b.find_element(By.ID, 'elasticity-heatmap-title').get_attribute('textContent'))
    cells = browser.find_elements(By.CSS_SELECTOR, '#elasticity-heatmap rect.cell')
    assert len(cells) == 24 * 24
    frame = client.elasticities(watched, 'C01Q2')
    titles = {(int(c.get_attribute('data-row')), int(c.get_attribute('data-column'))):
              c.find_element(By.TAG_NAME, 'title').get_attribute('textContent') for c in cells[:30]}
    for (i, j), title in titles.items():
        assert title == f'{frame.index[i]} × {frame.columns[j]}: {shown(frame.iat[i, j])}'
    heatmap = browser.find_element(By.ID, 'elasticity-heatmap')
    heatmap.send_keys(Keys.ARROW_DOWN, Keys.ARROW_RIGHT)
    assert text(browser, '#elasticity-readout') == f'{frame.index[1]}, {frame.columns[1]}: {shown(frame.iat[1, 1])}'
    assert len(browser.find_elements(By.CSS_SELECTOR, '#diversion-heatmap rect.cell')) == 24 * 24
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script('window.scrollTo(0, 0)')
    browser.save_screenshot(str(ARTIFACTS / 'ui-job-page.png'))
    assert (ARTIFACTS / 'ui-job-page.png').stat().st_size > 10_000


def test_job_list_shows_the_job_and_filters_by_status(watched, signed_in, stack):
    browser = signed_in
    browser.get(f'{stack.url}/ui#/')
    row = f'tr[data-job="{watched["id"]}"]'
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, row))
    assert text(browser, row).split()[1:3] == ['estimate', 'succeeded']
    Select(browser.find_element(By.ID, 'status-filter')).select_by_value('failed')
    wait(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, row))
    Select(browser.find_element(By.ID, 'status-filter')).select_by_value('succeeded')
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, row))
    browser.find_element(By.CSS_SELECTOR, f'{row} a').send_keys(Keys.ENTER)  # keyboard: follow the link
    wait(browser, lambda b: text(b, '#job-status') == 'succeeded')


def test_counterfactual_page_shows_prices_and_shares_before_and_after(watched, signed_in, stack, client):
    browser = signed_in
    job = client.counterfactual(watched, market='C01Q2', prices={'F1B04': 0.0388588575})
    browser.get(f"{stack.url}/ui#/jobs/{job['id']}")
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, '#counterfactual tbody tr')) == 24)
    products = client.result(job).to_frame().set_index('product_id')
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, '#counterfactual tr[data-product="F1B04"] td')]
    expected = products.loc['F1B04']
    assert cells[1:] == [shown(expected[name]) for name in ('price_before', 'price_after', 'price_change_percent',
                                                               'share_before', 'share_after', 'share_change_percent')]
    assert text(browser, 'dl.facts').count(watched['id'][:8]) == 1  # links back to its estimate


def test_a_finished_job_opened_later_draws_its_stored_convergence_trace(signed_in, stack, client, data):
    browser = signed_in
    job = client.estimate(data['products'], rc_spec(), agent_data=data['agents50'])  # finished before the page opens
    trace = client.result(job).trace
    browser.get(f"{stack.url}/ui#/jobs/{job['id']}")
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, 'details tbody tr')) == len(trace))
    assert len(trace) >= 2 and [point.iteration for point in trace] == list(range(1, len(trace) + 1))
    points = browser.find_element(By.CSS_SELECTOR, '#trace-chart polyline').get_attribute('points').split()
    assert len(points) == len(trace)
    assert text(browser, '#progress').startswith(f'{len(trace)} iterations: objective {shown(trace[-1].objective)}')


def test_multistart_page_plots_every_start(signed_in, stack, client, data):
    browser = signed_in
    job = client.multistart(data['products'], rc_spec(), STARTS, agent_data=data['agents50'])
    browser.get(f"{stack.url}/ui#/jobs/{job['id']}")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '#multistart-scatter circle.point'))
    report = client.result(job).multistart
    points = browser.find_elements(By.CSS_SELECTOR, '#multistart-scatter circle.point')
    assert len(points) == len([s for s in report.starts if (s.objective or 0) > 0]) == 3
    reached = next(o.starts for o in report.agreement.optima if report.chosen_start in o.starts)
    assert len(browser.find_elements(By.CSS_SELECTOR, '#multistart-scatter circle.point.reached')) == len(reached)


def test_no_javascript_errors_on_any_page(signed_in):
    # last in this module: the browser's log holds everything the pages above wrote to the console
    time.sleep(0.5)
    assert console_errors(signed_in) == []
