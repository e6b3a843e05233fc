from temporalio.client import Client

from models import names


async def test_dev_server_knows_every_search_attribute(client: Client):
    # A query naming an unregistered attribute is rejected by the server, so this fails if any is missing.
    for key in names.SEARCH_ATTRIBUTES:
        count = await client.count_workflows(f"{key.name} = 'nothing-yet'")
        assert count.count == 0
