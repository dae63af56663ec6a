"""The dashboard's files and its one JSON endpoint, as the API serves them (the browser tests are in tests/live)."""

from __future__ import annotations

from api_support import assert_problem


def test_page_and_its_modules_are_served_with_their_media_types(client):
    page = client.get('/ui')
    assert page.status_code == 200 and page.headers['content-type'].startswith('text/html')
    assert '<script type="module" src="/ui/app.js">' in page.text
    for name, media in (('app.js', 'text/javascript'), ('charts.js', 'text/javascript'), ('app.css', 'text/css')):
        response = client.get(f'/ui/{name}')
        assert response.status_code == 200 and response.headers['content-type'].startswith(media), name
    assert 'from \'./charts.js\'' in client.get('/ui/app.js').text


def test_config_says_whether_a_key_is_needed(make_client):
    assert make_client().get('/ui/config').json() == {'auth_required': False}
    assert make_client(api_keys='k1,k2').get('/ui/config').json() == {'auth_required': True}


def test_only_the_shipped_files_are_served(client):
    assert_problem(client.get('/ui/main.py'), 404)
    assert client.get('/ui/..%2Fmain.py').status_code == 404
    assert client.get('/ui/%2e%2e/routers/ui.py').status_code == 404


def test_dashboard_stays_out_of_the_api_document(client):
    assert not [path for path in client.get('/openapi.json').json()['paths'] if path.startswith('/ui')]
