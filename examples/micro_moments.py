"""Exercise 3's survey statistics (`../shared/docs/exercise-micro-moments.md`) in the API's JSON form of micro
moments (`solve.micro_moments`, `blp/spec/micro.py`): the same three moments as the PyBLP code of the exercise."""

SURVEY_MARKETS = ['C01Q1', 'C01Q2']

EXERCISE3_INCOME = {
    'datasets': [{'name': 'Income', 'observations': 100, 'market_ids': SURVEY_MARKETS, 'first_choices': 'inside'}],
    'parts': [{'name': 'log income | inside', 'dataset': 'Income', 'agents': 'log_income'}],
    'moments': [{'name': 'E[log income | inside]', 'value': 7.9, 'part': 'log income | inside'}],
}

EXERCISE3_ALL = {
    'datasets': EXERCISE3_INCOME['datasets'] + [
        {'name': 'Diversion', 'observations': 200, 'market_ids': SURVEY_MARKETS, 'first_choices': 'inside',
         'second_choices': 'all'}],
    'parts': EXERCISE3_INCOME['parts'] + [
        {'name': 'outside second', 'dataset': 'Diversion', 'second': {'expression': '0', 'outside': 1}},
        {'name': 'mushy first and second', 'dataset': 'Diversion', 'first': {'expression': 'mushy'},
         'second': {'expression': 'mushy', 'outside': 0}}],
    'moments': EXERCISE3_INCOME['moments'] + [
        {'name': 'P(outside second | inside)', 'value': 0.28, 'part': 'outside second'},
        {'name': 'P(mushy first and second | inside)', 'value': 0.31, 'part': 'mushy first and second'}],
}
