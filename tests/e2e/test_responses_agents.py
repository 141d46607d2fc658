"""The OpenAI Agents SDK (`openai-agents`) through shale + the emulator: an agent with a function
tool runs a full turn (the model calls the tool, the SDK runs it and sends the result back) over
the Responses API.
"""

from __future__ import annotations

import asyncio

import agents  # openai-agents, tests/requirements.txt
from openai import AsyncOpenAI

from shale_harness import (
    GATEWAY_KEY,
    deployment,
    stack_fixture,
)


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [deployment("claude", "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


def test_agent_with_a_function_tool(stack):
    emulator = stack.emulator
    emulator.reset()
    seen = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return f"It is sunny in {city}."

    async def run():
        client = AsyncOpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        model = agents.OpenAIResponsesModel(model="claude", openai_client=client)
        agent = agents.Agent(name="helper", instructions="Use the tool.", model=model, tools=[get_weather])
        return await agents.Runner.run(agent, "What is the weather in Paris?",
                                       run_config=agents.RunConfig(tracing_disabled=True))

    result = asyncio.run(run())
    assert seen, "the SDK ran the tool the model called"
    assert "Received 1 tool result(s)" in result.final_output
    calls = [q for q in emulator.requests() if q["path"].startswith("/model/")]
    assert len(calls) == 2
    assert calls[0]["body"]["system"] == [{"text": "Use the tool."}]
    results = [b for m in calls[1]["body"]["messages"] for b in m["content"] if "toolResult" in b]
    assert "sunny" in str(results[0]["toolResult"]["content"])
