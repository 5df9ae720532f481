"""Prints, as JSON, how a trained model reads some texts: intent and confidence.

Usage: python scripts/nlu_scores.py MODEL TEXT_FILE (one text per line)
"""

import asyncio
import json
import logging
import sys


async def main(model: str, texts: list[str]) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    readings = {}
    for text in texts:
        parsed = await agent.parse_message(text)
        readings[text] = {"intent": parsed["intent"]["name"], "confidence": parsed["intent"]["confidence"]}
    print(json.dumps(readings))


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    with open(sys.argv[2]) as handle:
        lines = [line.strip() for line in handle if line.strip()]
    asyncio.run(main(sys.argv[1], lines))
