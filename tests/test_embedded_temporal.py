from temporalio.client import Client

from models import search_attributes


async def test_dev_server_knows_every_search_attribute(client: Client):
    # A query naming an unregistered attribute is rejected by the server, so this fails if any is missing.
    for key in search_attributes.ALL:
        count = await client.count_workflows(f"{key.name} = 'nothing-yet'")
        assert count.count == 0
