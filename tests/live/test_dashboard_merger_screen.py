"""A merger screen on the dashboard in a real headless Chromium against the real stack, submitted with the Python
client: the ranking table has a row per candidate in the client's ranking order, re-sorts by a column's button, and
plots each candidate's consumer-surplus loss."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from test_dashboard import browser, console_errors, shown, signed_in, text, wait  # noqa: F401  (fixtures)

pytestmark = pytest.mark.queue
LOGIT = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'}]},
         'solve': {'method': '1s'}}


def test_ranking_table_sorts_and_plots_every_candidate(signed_in, stack, client, data):  # noqa: F811
    page = signed_in
    estimate = client.estimate(data['products'], LOGIT)
    screen = client.merger_screen(estimate, markets=['C01Q1', 'C01Q2'], credit=0.01)
    ranking = client.ranking(screen)
    assert len(ranking) == 10 and list(ranking.index) == list(range(1, 11))
    page.get(f"{stack.url}/ui#/jobs/{screen['id']}")
    wait(page, lambda b: len(b.find_elements(By.CSS_SELECTOR, '#ranking tbody tr')) == 10)
    candidates = [row.get_attribute('data-candidate') for row in page.find_elements(By.CSS_SELECTOR, '#ranking tbody tr')]
    assert candidates == list(ranking['candidate'])
    assert text(page, '#ranking tbody tr:first-child td:nth-child(3)') == shown(ranking['consumer_surplus_loss'].iloc[0])
    page.find_element(By.CSS_SELECTOR, 'button[data-sort="guppi_max"]').click()
    wait(page, lambda b: b.find_elements(By.CSS_SELECTOR, 'th[aria-sort="descending"] button[data-sort="guppi_max"]'))
    by_guppi = client.ranking(screen, sort='guppi_max')
    candidates = [row.get_attribute('data-candidate') for row in page.find_elements(By.CSS_SELECTOR, '#ranking tbody tr')]
    assert candidates == list(by_guppi['candidate'])
    assert len(page.find_elements(By.CSS_SELECTOR, '#ranking-chart circle.point')) == 10
    assert console_errors(page) == []
