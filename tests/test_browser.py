"""The agent console and the customer chat page in a real browser (Debian's
Chromium, headless), against the real system: Rasa on two servers, the action
server and Redis. Each run saves screenshots to tests/artifacts/screenshots/;
with UPDATE_SCREENSHOTS=1 it refreshes the README's in docs/images/ too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import yarl
from playwright.async_api import Browser, Locator, Page, expect

from tests.api_client import ApiClient
from tests.browser import (
    DESKTOP,
    PHONE,
    README_IMAGES,
    SCREENSHOTS,
    ConsoleLog,
    Simultaneous,
    chromium,
    open_page,
    response_text,
    sign_in,
)
from tests.channel_server import agent_token
from tests.stack import Stack

pytestmark = pytest.mark.e2e

GIBBERISH = "xkcd qwfp zzvb blorf"
CONFLICT = "Failed to load resource: the server responded with a status of 409 (Conflict)"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def customer_says(chat: Page, text: str) -> None:
    box = chat.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")
    await expect(chat.locator(".message--customer .bubble").filter(has_text=text).last).to_be_visible()
    await expect(chat.locator(".message--customer .message-state")).to_have_count(0)


async def sender_of(chat: Page) -> str:
    sender = await chat.evaluate("localStorage.getItem('handoff.chat.sender')")
    assert isinstance(sender, str) and sender
    return sender


def bot_bubbles(chat: Page, text: str) -> Locator:
    return chat.locator(".message--bot:not(.message--local) .bubble").filter(has_text=text)


def waiting_item(console: Page, sender: str) -> Locator:
    return console.locator(f'#conversation-list .item[data-id="{sender}"]')


@contextlib.asynccontextmanager
async def waiting_customers(api: ApiClient) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """`hand_over(prefix)`: a new customer handed over through `api` (gibberish), their
    id returned; each leaves the queue again at the end, so the other tests find it as it was."""
    tokens: list[str] = []

    async def hand_over(prefix: str) -> str:
        sender = f"{prefix}-{os.urandom(4).hex()}"
        status, answer = await api.say(sender, GIBBERISH)
        assert status == 200 and answer["state"] == "waiting", answer
        tokens.append(answer["customer_token"])
        return sender

    try:
        yield hand_over
    finally:
        for token in tokens:
            status, _ = await api.request("POST", "/customer/cancel", token=token)
            assert status == 200


async def test_two_agents_one_customer_in_the_browser(stack: Stack, browser: Browser) -> None:
    """gibberish in the chat page → both consoles see the customer (live, with a
    sound and a title badge) → both click Start Chat, one wins, the other is told
    who → chat both ways → Add to training → Assign to Bot → the bot answers."""
    log = ConsoleLog()
    names = {"alice": "Alice Martin", "bob": "Bob Keller"}
    tokens = {agent: agent_token(agent, name=name) for agent, name in names.items()}

    alice = await open_page(browser, f"{stack.rasa[0].handoff}/console", log, "alice", DESKTOP)
    bob = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "bob", DESKTOP)
    consoles = {"alice": alice, "bob": bob}
    for agent, console in consoles.items():
        await expect(console.get_by_role("heading", name="Sign in")).to_be_visible()
        await sign_in(console, tokens[agent])
        await expect(console.locator("#agent-name")).to_have_text(names[agent])
        assert tokens[agent] not in console.url
        assert await console.evaluate("sessionStorage.getItem('handoff.console.token')") == tokens[agent]
        await expect(console.get_by_role("tab", name=re.compile("^Waiting"))).to_have_attribute("aria-selected", "true")

    # The customer: the bot answers, then does not understand and hands over.
    chat = await open_page(browser, f"{stack.rasa[0].handoff}/chat/", log, "chat", DESKTOP)
    await customer_says(chat, "hello")
    await expect(bot_bubbles(chat, response_text("utter_greet"))).to_have_count(1)
    assert await chat.evaluate("localStorage.getItem('handoff.chat.token')")
    await customer_says(chat, GIBBERISH)
    await expect(bot_bubbles(chat, response_text("utter_agent_fallback"))).to_be_visible()
    await expect(chat.locator("#chat-status-text")).to_have_text("Waiting for a colleague…")
    sender = await sender_of(chat)

    # Both consoles see the customer appear in Waiting, live: wait time, last
    # message, a notification with sound and the count in the tab title.
    for console in consoles.values():
        item = waiting_item(console, sender)
        await expect(item).to_be_visible()
        await expect(item.locator(".item-last")).to_have_text(GIBBERISH)
        await expect(item.locator(".item-time.wait")).to_have_text(re.compile(r"^\d+s$|^\d+m \d\ds$"))
        await expect(console.locator(".toast").filter(has_text=f"New customer waiting: {sender}")).to_be_visible()
        await expect(console).to_have_title(re.compile(r"^\(\d+\) Handoff console$"))
        assert await console.evaluate("window.__tones") > 0, "no notification sound was played"
        since = await console.locator("#conversation-list .item-time.wait").evaluate_all(
            "nodes => nodes.map(n => Number(n.dataset.since))"
        )
        assert since == sorted(since), "Waiting is not longest-waiting first"

    # Both open the conversation: the whole transcript, the details, Start Chat.
    for console in consoles.values():
        await waiting_item(console, sender).click()
        transcript = console.get_by_role("log", name="Transcript")
        await expect(transcript.locator(".msg--customer").filter(has_text=GIBBERISH)).to_be_visible()
        await expect(
            transcript.locator(".msg--bot").filter(has_text=response_text("utter_agent_fallback"))
        ).to_be_visible()
        await expect(console.locator("#details-list")).to_contain_text("The bot did not understand")
        await expect(console.get_by_role("button", name="Start Chat")).to_be_visible()

    # Both click Start Chat at once (their requests are held until both were sent).
    together = Simultaneous(count=2)
    for console in consoles.values():
        await together.install(console, "**/claim")
    await asyncio.gather(*(c.get_by_role("button", name="Start Chat").click() for c in consoles.values()))
    for console in consoles.values():
        await expect(console.locator("#composer:visible, #notice:visible")).to_have_count(1)
    # The live feed can show the winner's composer before the held answer reached the test.
    for _ in range(100):
        if len(together.statuses) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(together.statuses) == [200, 409], together.statuses
    winners = [agent for agent, console in consoles.items() if await console.locator("#composer").is_visible()]
    assert len(winners) == 1, winners
    winner = winners[0]
    loser = "bob" if winner == "alice" else "alice"
    winning, losing = consoles[winner], consoles[loser]
    await expect(losing.locator("#notice")).to_have_text(f"{names[winner]} already took this conversation.")
    await expect(losing.locator("#composer")).to_be_hidden()
    await expect(losing.get_by_role("button", name="Start Chat")).to_be_hidden()
    for console in consoles.values():
        await expect(waiting_item(console, sender)).to_have_count(0, timeout=3000)
        await expect(console.locator(".toast").filter(has_text=f"New customer waiting: {sender}")).to_have_count(0)
    await expect(chat.locator(".message--system").filter(has_text=f"{names[winner]} joined the chat.")).to_be_visible()
    await expect(chat.locator("#chat-title")).to_have_text(names[winner])

    # They chat: Enter sends, Shift+Enter makes a new line; both ways, live.
    composer = winning.get_by_label("Message to the customer")
    await composer.fill("Hi, I'm here to help.")
    await composer.press("Enter")
    await expect(chat.locator(".message--agent .bubble").filter(has_text="Hi, I'm here to help.")).to_be_visible()
    await composer.press_sequentially("Which order is it?")
    await composer.press("Shift+Enter")
    await composer.press_sequentially("The number is on your receipt.")
    await expect(composer).to_have_value("Which order is it?\nThe number is on your receipt.")
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    await expect(chat.locator(".message--agent .bubble").last).to_have_text(
        "Which order is it?\nThe number is on your receipt."
    )
    await customer_says(chat, "my parcel never came")
    for console in consoles.values():
        transcript = console.get_by_role("log", name="Transcript")
        await expect(transcript.locator(".msg--customer").filter(has_text="my parcel never came")).to_be_visible()

    # Add to training: the intent picker offers the domain's intents.
    message = winning.locator("#transcript .msg--customer").filter(has_text="my parcel never came")
    await message.get_by_role("button", name="Add to training").click()
    dialog = winning.get_by_role("dialog", name="Add to training")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Example text")).to_have_value("my parcel never came")
    picker = dialog.get_by_label("Intent", exact=True)
    await expect(picker.locator('option[value="order_status"]')).to_have_count(1)
    await picker.select_option("order_status")
    await dialog.get_by_role("button", name="Add example").click()
    await expect(dialog).to_be_hidden()
    await expect(message.locator(".trained-tag")).to_have_text("Training: order_status")
    async with aiohttp.ClientSession() as http:
        status, stored = await ApiClient(stack.rasa[1].handoff, http).request(
            "GET", "/agent/training-examples", token=tokens[winner]
        )
    assert status == 200
    assert {"text": "my parcel never came", "intent": "order_status", "conversation": sender, "agent": winner} in [
        {k: e[k] for k in ("text", "intent", "conversation", "agent")} for e in stored["examples"]
    ]

    # The screenshots for the README, at 1280x800.
    await winning.get_by_role("tab", name=re.compile("^Mine")).click()
    await expect(waiting_item(winning, sender)).to_have_attribute("aria-current", "true")
    for close in await winning.locator(".toast-close").all():
        await close.click()
    await expect(winning.locator(".toast")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    folders = [SCREENSHOTS, README_IMAGES] if os.environ.get("UPDATE_SCREENSHOTS") == "1" else [SCREENSHOTS]
    for folder in folders:
        await winning.screenshot(path=str(folder / "console.png"))
        await chat.screenshot(path=str(folder / "chat.png"))
    assert (SCREENSHOTS / "console.png").stat().st_size > 10_000

    # Assign to Bot: the close icon's menu. The customer is told, and the bot answers again.
    await winning.get_by_role("button", name="Close conversation").click()
    await winning.get_by_role("menuitem", name=re.compile("Assign to Bot")).click()
    await expect(bot_bubbles(chat, response_text("utter_bot_assigned"))).to_be_visible()
    await expect(chat.locator("#chat-status-text")).to_have_text("Assistant · answers instantly")
    await customer_says(chat, "hello")
    await expect(bot_bubbles(chat, response_text("utter_greet"))).to_have_count(2)
    for console in consoles.values():
        await expect(console.locator("#conversation-subtitle .badge")).to_have_text("Bot")
        await expect(console.locator("#composer")).to_be_hidden()
        transcript = console.get_by_role("log", name="Transcript")
        await expect(
            transcript.locator(".msg--bot").filter(has_text=response_text("utter_bot_assigned"))
        ).to_be_visible()
    await expect(winning.locator(f'#conversation-list .item[data-id="{sender}"]')).to_have_count(0)  # not Mine any more

    # Stats: the gibberish is among the messages the bot did not understand, one
    # click from Add to training and from the conversation it came from.
    await losing.get_by_role("button", name="Stats").click()
    stats = losing.locator("#stats-view")
    await expect(stats.locator('[data-stat="handoffs"] .stat-value')).to_have_text(re.compile(r"^[1-9]\d*$"))
    item = stats.locator(".fallback-item").filter(has_text=GIBBERISH)
    await expect(item.get_by_role("button", name="Add to training")).to_be_visible()
    latest = item.get_by_role("button", name="Open conversation")
    conversation = (await latest.get_attribute("title") or "").rsplit(" ", 1)[-1]
    await latest.click()
    await expect(stats).to_be_hidden()
    await expect(losing.locator("#conversation-name")).to_have_text(conversation)

    assert log.unexpected([f"{loser}: {CONFLICT}"]) == [], log.errors


async def test_desk_tools_in_the_browser(stack: Stack, browser: Browser) -> None:
    """A supervisor adds a canned response → an agent claims a customer, names them,
    inserts the response with `/` (placeholders filled), adds a private note, sees
    the bot's reading, goes Away, transfers the chat to a colleague → the colleague
    hands it to the bot → the first agent takes it over from Live."""
    log = ConsoleLog()
    names = {"sara": "Sara Lind", "dave": "Dave Novak", "erin": "Erin Vogel"}
    tokens = {
        "sara": agent_token("sara", role="supervisor", name=names["sara"]),
        "dave": agent_token("dave", name=names["dave"]),
        "erin": agent_token("erin", name=names["erin"]),
    }
    consoles: dict[str, Page] = {}
    for agent in names:
        consoles[agent] = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, agent, DESKTOP)
        await sign_in(consoles[agent], tokens[agent])
    sara, dave, erin = consoles["sara"], consoles["dave"], consoles["erin"]
    await expect(dave.get_by_role("button", name="Canned responses")).to_be_hidden()

    # The supervisor adds a canned response in the manager.
    await sara.get_by_role("button", name="Canned responses").click()
    manager = sara.get_by_role("dialog", name="Canned responses")
    await expect(manager).to_be_visible()
    await manager.get_by_label("Shortcut").fill("orderhelp")
    await manager.get_by_label("Title").fill("Order help")
    await manager.get_by_label("Text").fill("Hi {customer_name}, {agent_name} here. Let me check your order.")
    await manager.get_by_role("button", name="Save response").click()
    await expect(manager.locator(".canned-row").filter(has_text="/orderhelp")).to_be_visible()
    await expect(manager.get_by_role("button", name="Edit /orderhelp")).to_be_visible()
    await manager.get_by_role("button", name="Close").click()
    await expect(manager).to_be_hidden()

    # A customer the bot cannot help; Dave starts the chat.
    chat = await open_page(browser, f"{stack.rasa[0].handoff}/chat/", log, "desk-chat", DESKTOP)
    await customer_says(chat, GIBBERISH)
    await expect(bot_bubbles(chat, response_text("utter_agent_fallback"))).to_be_visible()
    sender = await sender_of(chat)
    await waiting_item(dave, sender).click()
    await dave.get_by_role("button", name="Start Chat").click()
    composer = dave.get_by_label("Message to the customer")
    await expect(composer).to_be_focused()

    # Customer details: the name is saved and fills {customer_name}.
    panel = dave.locator("#details")
    await panel.get_by_label("Name", exact=True).fill("Dana Scully")
    await panel.get_by_label("Email").fill("dana@example.com")
    await panel.get_by_role("button", name="Save details").click()
    await expect(dave.locator(".toast").filter(has_text="Customer details saved.")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        api = ApiClient(stack.rasa[1].handoff, http)
        status, details = await api.request("GET", f"/agent/conversations/{sender}/customer", token=tokens["erin"])
    assert status == 200 and details["customer"] == {"name": "Dana Scully", "email": "dana@example.com"}

    # `/` opens the picker; Escape closes it; typing filters; Enter inserts, Enter sends.
    picker = dave.get_by_role("listbox", name="Canned responses")
    await composer.press_sequentially("/")
    await expect(picker).to_be_visible()
    await expect(composer).to_have_attribute("aria-expanded", "true")
    await composer.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(composer).to_have_value("/")
    await composer.press_sequentially("order")
    option = picker.get_by_role("option").filter(has_text="/orderhelp")
    await expect(option).to_have_attribute("aria-selected", "true")
    await dave.screenshot(path=str(SCREENSHOTS / "console-canned.png"))
    await composer.press("Enter")
    filled = "Hi Dana Scully, Dave Novak here. Let me check your order."
    await expect(composer).to_have_value(filled)
    await expect(picker).to_be_hidden()
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    await expect(chat.locator(".message--agent .bubble").filter(has_text=filled)).to_be_visible()

    # A private note: in the panel, never in the customer's messages.
    note = "Asked twice already; be patient."
    await expect(panel.get_by_text("Only agents see notes")).to_be_visible()
    await panel.get_by_label("New note").fill(note)
    await panel.get_by_role("button", name="Add note").click()
    await expect(panel.locator(".note").filter(has_text=note)).to_contain_text("Dave Novak (you)")
    await expect(panel.get_by_label("New note")).to_have_value("")

    # The bot's reading under the customer's messages.
    await customer_says(chat, "where is my parcel")
    said = dave.locator("#transcript .msg--customer").filter(has_text="where is my parcel")
    await expect(said.locator(".msg-reading")).to_have_text(re.compile(r"[a-z_]+ \d\.\d\d"))

    # Away, then back Online: PUT /agent/status.
    presence = dave.get_by_label("Your status")
    await presence.select_option("away")
    await expect(dave.locator(".toast").filter(has_text="You are Away.")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        api = ApiClient(stack.rasa[1].handoff, http)
        status, listed = await api.request("GET", "/agent/agents", token=tokens["sara"])
        assert status == 200
        assert {a["id"]: a["status"] for a in listed["agents"]}["dave"] == "away"
        await presence.select_option("online")
        await expect(dave.locator(".toast").filter(has_text="You are Online.")).to_be_visible()
        chat_token = await chat.evaluate("localStorage.getItem('handoff.chat.token')")
        async with http.get(
            f"{stack.rasa[0].handoff}/customer/messages", headers={"Authorization": f"Bearer {chat_token}"}
        ) as answer:
            received = await answer.json()
    texts = [m["text"] for m in received["messages"]]
    assert filled in texts
    assert not any(note in text for text in texts), texts
    await expect(chat.get_by_text(note)).to_have_count(0)

    # Transfer to Erin: the agents with their status; the customer is told.
    await dave.get_by_role("button", name="Close conversation").click()
    await dave.get_by_role("menuitem", name=re.compile("Transfer to")).click()
    transfer = dave.get_by_role("dialog", name="Transfer to…")
    await expect(transfer.get_by_role("button", name="Back to the queue")).to_be_visible()
    target = transfer.get_by_role("button", name=re.compile("Erin Vogel"))
    await expect(target).to_contain_text("Online")
    await dave.screenshot(path=str(SCREENSHOTS / "console-transfer.png"))
    await target.click()
    await expect(transfer).to_be_hidden()
    await expect(chat.locator(".message--system").filter(has_text="Erin Vogel took over the chat.")).to_be_visible()
    await expect(dave.locator("#composer")).to_be_hidden()
    await erin.get_by_role("tab", name=re.compile("^Mine")).click()
    await expect(waiting_item(erin, sender)).to_be_visible()
    await dave.get_by_role("tab", name=re.compile("^Mine")).click()
    await expect(waiting_item(dave, sender)).to_have_count(0)

    # Erin sees the note and the details, then hands the customer to the bot.
    await waiting_item(erin, sender).click()
    await expect(erin.locator("#details .note").filter(has_text=note)).to_be_visible()
    await expect(erin.locator("#customer-name")).to_have_value("Dana Scully")
    await erin.get_by_role("button", name="Close conversation").click()
    await erin.get_by_role("menuitem", name=re.compile("Assign to Bot")).click()
    await expect(bot_bubbles(chat, response_text("utter_bot_assigned"))).to_be_visible()

    # Dave takes it over from Live: the bot stops, the composer is his.
    await dave.get_by_role("tab", name=re.compile("^Live")).click()
    await waiting_item(dave, sender).click()
    await dave.get_by_role("button", name="Take over").click()
    await expect(dave.get_by_label("Message to the customer")).to_be_visible()
    await expect(dave.get_by_role("button", name="Take over")).to_be_hidden()
    await expect(chat.locator(".message--system").filter(has_text="Dave Novak joined the chat.").last).to_be_visible()

    await dave.screenshot(path=str(SCREENSHOTS / "console-desk.png"))
    assert log.unexpected([]) == [], log.errors


async def test_console_and_chat_on_a_phone(stack: Stack, browser: Browser) -> None:
    """At 390 px wide the Waiting list and a conversation are reachable, by keyboard too."""
    log = ConsoleLog()
    token = agent_token("carol", name="Carol Diaz")
    console = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "phone-console", PHONE)
    await sign_in(console, token)

    # The mute switch holds across a reload (the session's token does too).
    sound = console.get_by_role("switch", name="Sound for new customers")
    await expect(sound).to_have_attribute("aria-checked", "true")
    await sound.click()
    await expect(sound).to_have_attribute("aria-checked", "false")
    await console.reload()
    await console.locator('#connection[data-status="live"]').wait_for()
    await expect(sound).to_have_attribute("aria-checked", "false")
    await console.get_by_role("tab", name=re.compile("^Waiting")).click()  # a gesture: sound could play now
    chat = await open_page(browser, f"{stack.rasa[0].handoff}/chat/", log, "phone-chat", PHONE)
    await customer_says(chat, GIBBERISH)
    await expect(bot_bubbles(chat, response_text("utter_agent_fallback"))).to_be_visible()
    sender = await sender_of(chat)

    for page in (console, chat):
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{page.url} scrolls sideways ({width}px)"

    await expect(console.locator(".toast").filter(has_text=f"New customer waiting: {sender}")).to_be_visible()
    await expect(console).to_have_title(re.compile(r"^\(\d+\) Handoff console$"))
    assert await console.evaluate("window.__tones") == 0, "muted, yet a sound was played"

    # The tabs follow the arrow keys.
    waiting_tab = console.get_by_role("tab", name=re.compile("^Waiting"))
    await waiting_tab.focus()
    await console.keyboard.press("ArrowRight")
    await expect(console.get_by_role("tab", name=re.compile("^Live"))).to_have_attribute("aria-selected", "true")
    await console.keyboard.press("ArrowLeft")
    await expect(waiting_tab).to_have_attribute("aria-selected", "true")

    # Open the customer and take the chat with the keyboard alone.
    item = waiting_item(console, sender)
    await expect(item).to_be_visible()
    await item.focus()
    await console.keyboard.press("Enter")
    await expect(console.locator(".sidebar")).to_be_hidden()
    start = console.get_by_role("button", name="Start Chat")
    await expect(start).to_be_visible()
    await expect(console.get_by_role("log", name="Transcript").locator(".msg--customer")).to_have_text(
        re.compile(GIBBERISH)
    )
    await start.focus()
    await console.keyboard.press("Enter")
    composer = console.get_by_label("Message to the customer")
    await expect(composer).to_be_focused()
    await composer.press_sequentially("Hello from my phone")
    await composer.press("Enter")
    await expect(chat.locator(".message--agent .bubble").filter(has_text="Hello from my phone")).to_be_visible()
    width = await console.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the conversation scrolls sideways ({width}px)"
    await console.screenshot(path=str(SCREENSHOTS / "console-phone.png"))

    # Hand back with the keyboard, then go back to the list.
    close = console.get_by_role("button", name="Close conversation")
    await close.focus()
    await console.keyboard.press("Enter")
    await expect(console.get_by_role("menuitem", name=re.compile("Assign to Bot"))).to_be_focused()
    await console.keyboard.press("Enter")
    await expect(bot_bubbles(chat, response_text("utter_bot_assigned"))).to_be_visible()
    await console.get_by_role("button", name="Back to the list").click()
    await expect(console.get_by_role("tab", name=re.compile("^Waiting"))).to_be_visible()

    assert log.unexpected([]) == [], log.errors


async def test_admin_changes_desk_settings_in_the_browser(stack: Stack, browser: Browser) -> None:
    """An admin opens Settings, turns human fallback off, allows 2 chats per agent and
    sets office hours (Monday, a holiday) → stored, as the API shows; a bad time zone
    is refused with the server's message and changes nothing → the settings are put
    back. A plain agent has no Settings button; the view fits a phone."""
    log = ConsoleLog()
    admin = agent_token("ines", role="admin", name="Ines Roth")
    plain = agent_token("otto", name="Otto Berg")
    async with aiohttp.ClientSession() as http:
        api = ApiClient(stack.rasa[1].handoff, http)

        async def stored() -> dict[str, object]:
            status, body = await api.request("GET", "/agent/settings", token=plain)
            assert status == 200, body
            return dict(body)

        before = await stored()
        assert (before["enabled"], before["office_hours"], before["max_chats_per_agent"]) == (True, None, 0)
        try:
            # A plain agent: Stats, but no Settings.
            agent = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "otto", DESKTOP)
            await sign_in(agent, plain)
            await expect(agent.get_by_role("button", name="Stats")).to_be_visible()
            await expect(agent.get_by_role("button", name="Settings", exact=True)).to_have_count(0)
            await expect(agent.locator("#settings-view")).to_be_hidden()

            # The admin opens Settings: the stored values, the browser's time zone for a schedule.
            console = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "ines", DESKTOP)
            await sign_in(console, admin)
            button = console.get_by_role("button", name="Settings", exact=True)
            await button.click()
            await expect(button).to_have_attribute("aria-pressed", "true")
            view = console.locator("#settings-view")
            await expect(view.get_by_role("heading", name="Desk settings")).to_be_focused()
            enabled = view.get_by_role("switch", name="Human fallback")
            await expect(enabled).to_be_checked()
            await expect(view.get_by_label("Always open")).to_be_checked()
            await expect(view.get_by_label("Offline after (seconds)")).to_have_value(str(before["offline_grace_s"]))
            await expect(view.get_by_label("Nobody online at handoff")).to_have_value(str(before["no_agents_policy"]))

            # Human fallback off, 2 chats, Monday 08:30-17:00 in Berlin, closed on Christmas.
            await enabled.uncheck()
            await view.get_by_label("Max chats per agent").fill("2")
            await view.get_by_label("On a schedule").check()
            zone = view.get_by_label("Time zone")
            browser_zone = await console.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
            await expect(zone).to_have_value(browser_zone)
            await zone.fill("Europe/Berlin")
            await view.get_by_role("button", name="Add opening hours on Monday").click()
            opens = view.get_by_label("Monday opens", exact=True)
            await expect(opens).to_be_focused()
            await opens.fill("8:30")
            await view.get_by_label("Monday closes", exact=True).fill("17:00")
            await view.get_by_label("Holiday date").fill("2026-12-25")
            await view.get_by_role("button", name="Add holiday").click()
            await expect(view.get_by_role("button", name="Remove holiday 2026-12-25")).to_be_visible()
            await expect(view.locator("#settings-status")).to_have_text("Unsaved changes")
            await console.screenshot(path=str(SCREENSHOTS / "console-settings.png"))
            await view.get_by_role("button", name="Save settings").click()
            await expect(view.locator("#settings-status")).to_contain_text("Saved 3 changes")
            await expect(opens).to_have_value("08:30")
            hours = {"timezone": "Europe/Berlin", "weekly": {"mon": [["08:30", "17:00"]]}, "holidays": ["2026-12-25"]}
            changed = {**before, "enabled": False, "max_chats_per_agent": 2, "office_hours": hours}
            assert await stored() == changed

            # A time zone the server does not know: its message, next to Save; nothing changes.
            await zone.fill("Mars/Olympus")
            await view.get_by_role("button", name="Save settings").click()
            await expect(view.get_by_role("alert")).to_contain_text("Not saved:")
            error = view.locator("#settings-error")
            await expect(error).to_contain_text("unknown time zone 'Mars/Olympus'")
            await expect(view.locator("#settings-group-hours")).to_have_attribute("aria-invalid", "true")
            await expect(view.locator("#settings-status")).to_be_empty()
            assert await stored() == changed

            # Back to how it was, in the console too: always open, fallback on, no limit.
            await view.get_by_label("Always open").check()
            await enabled.check()
            await view.get_by_label("Max chats per agent").fill("0")
            await view.get_by_role("button", name="Save settings").click()
            await expect(view.locator("#settings-status")).to_contain_text("Saved 3 changes")
            await expect(error).to_be_empty()
            await expect(view.locator("#settings-group-hours")).not_to_have_attribute("aria-invalid", "true")
            assert await stored() == before

            # Stats takes the view's place; closing Settings gives the focus back to its button.
            await console.get_by_role("button", name="Stats").click()
            await expect(view).to_be_hidden()
            await button.click()
            await expect(view).to_be_visible()
            await expect(console.locator("#stats-view")).to_be_hidden()
            await view.get_by_role("button", name="Close settings").click()
            await expect(view).to_be_hidden()
            await expect(button).to_be_focused()

            # On a phone: the whole form, no sideways scrolling, Save in reach.
            phone = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "ines-phone", PHONE)
            await sign_in(phone, admin)
            await phone.get_by_role("button", name="Settings", exact=True).click()
            await expect(phone.get_by_role("switch", name="Human fallback")).to_be_checked()
            await phone.get_by_label("On a schedule").check()
            await phone.get_by_role("button", name="Add opening hours on Sunday").click()
            await expect(phone.get_by_role("button", name="Save settings")).to_be_in_viewport()
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the settings scroll sideways ({width}px)"
            await phone.screenshot(path=str(SCREENSHOTS / "console-settings-phone.png"))
        finally:
            # Whatever failed above, the other tests get the desk as it was.
            status, _ = await api.request("PUT", "/agent/settings", before, token=admin)
            assert status == 200
    bad_request = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    assert log.unexpected([f"ines: {bad_request}"]) == [], log.errors


async def test_static_files_are_served_safely(stack: Stack) -> None:
    """Both pages at their bare path and with the slash; known files only."""
    base = stack.rasa[0].handoff
    async with aiohttp.ClientSession() as http:
        for app, title in (("console", "<title>Handoff console</title>"), ("chat", "<title>Chat with Parcel")):
            async with http.get(f"{base}/{app}", allow_redirects=False) as bare:
                assert bare.status == 308 and bare.headers["Location"] == f"{app}/"
            async with http.get(f"{base}/{app}") as followed:
                assert followed.status == 200 and str(followed.url) == f"{base}/{app}/"
                assert title in await followed.text()
            async with http.get(f"{base}/{app}/") as page:
                assert page.status == 200
                assert page.headers["Content-Type"] == "text/html; charset=utf-8"
                policy = page.headers["Content-Security-Policy"]
                assert "default-src 'self'" in policy and "script-src 'self'" in policy
                etag = page.headers["ETag"]
            async with http.get(f"{base}/{app}/", headers={"If-None-Match": etag}) as cached:
                assert cached.status == 304
            async with http.get(f"{base}/{app}/icon.svg") as icon:
                assert icon.status == 200 and icon.headers["Content-Type"] == "image/svg+xml"
        async with http.get(f"{base}/console/console.js") as script:
            assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
        async with http.get(f"{base}/chat/chat.css") as style:
            assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")
        for path in (
            "/console/nope.js",
            "/console/../routes_static.py",
            "/console/%2e%2e/routes_static.py",
            "/console/..%2froutes_static.py",
            "/console/%2e%2e%2f%2e%2e%2fchannel.py",
            "/chat/../console/console.js",
            "/console//etc/passwd",
            "/console/%2fetc%2fpasswd",
            "/console/.hidden",
        ):
            url = yarl.URL(base + path, encoded=True)
            async with http.get(url, allow_redirects=False) as answer:
                assert answer.status == 404, (path, answer.status)


async def waiting_order(api: ApiClient, token: str) -> list[str]:
    """The Waiting queue as the agents' API gives it, longest waiting first."""
    status, body = await api.request("GET", "/agent/conversations?view=waiting&limit=500", token=token)
    assert status == 200, body
    return [c["id"] for c in body["conversations"]]


async def shown_place(chat: Page, api: ApiClient, token: str, sender: str) -> tuple[int, list[str]]:
    """The customer's place as the page shows it, once it agrees with the API's
    Waiting order (read again until then: the page follows the queue live). Gives
    the place and the customers ahead of them."""
    place = chat.get_by_role("status").filter(has_text="in the queue")
    text, order = "", []
    for _ in range(100):
        order = await waiting_order(api, token)
        assert sender in order, order
        expected = order.index(sender) + 1
        text = (await place.text_content() or "") if await place.count() == 1 else ""
        if re.search(rf"\bnumber {expected}\b", text):
            return expected, order[: expected - 1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the page says {text!r}; the API has {sender} at {order.index(sender) + 1}")


async def test_chat_page_queue_position_and_stop_waiting(
    stack: Stack, browser: Browser, first: ApiClient, second: ApiClient
) -> None:
    """On a phone: gibberish → handed over, the page shows the customer's place in the
    queue (as the API orders Waiting) → another customer handed over behind them does
    not move it; an agent taking the customer ahead moves it up, live → Stop waiting
    (keyboard) → back with the assistant, the button gone, the conversation with the
    bot → the next message gets the bot's answer."""
    log = ConsoleLog()
    agent = agent_token("quinn", name="Quinn Park")
    # A customer ahead, handed over through the API.
    before = f"queue-ahead-{os.urandom(4).hex()}"
    status, answer = await second.say(before, GIBBERISH)
    assert status == 200 and answer["state"] == "waiting", answer
    chat = await open_page(browser, f"{stack.rasa[0].handoff}/chat/", log, "queue-chat", PHONE)
    stop = chat.get_by_role("button", name="Stop waiting")
    place = chat.locator("#queue-position")
    await expect(stop).to_be_hidden()
    await expect(place).to_be_empty()

    await customer_says(chat, GIBBERISH)
    await expect(bot_bubbles(chat, response_text("utter_agent_fallback"))).to_be_visible()
    await expect(chat.locator("#chat-status-text")).to_have_text("Waiting for a colleague…")
    sender = await sender_of(chat)
    await expect(place).to_have_attribute("aria-live", "polite")
    await expect(place).to_have_text(re.compile(r"^You are number \d+ in the queue"))
    position, ahead = await shown_place(chat, first, agent, sender)
    assert before in ahead
    await expect(stop).to_be_visible()
    await expect(stop).to_be_in_viewport()
    width = await chat.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the waiting chat scrolls sideways ({width}px)"
    await chat.screenshot(path=str(SCREENSHOTS / "chat-waiting.png"))

    # Another customer, handed over through the API on the other server: behind this one.
    behind = f"queue-behind-{os.urandom(4).hex()}"
    status, behind_answer = await second.say(behind, GIBBERISH)
    assert status == 200 and behind_answer["state"] == "waiting", behind_answer
    assert behind_answer["queue_position"] > position, (behind_answer, position)
    await asyncio.sleep(1)  # time for a queue frame, were one (wrongly) sent
    now, ahead_now = await shown_place(chat, first, agent, sender)
    assert behind not in ahead_now
    if ahead_now == ahead:  # nobody else joined or left the queue ahead meanwhile
        assert now == position

    # An agent takes the customer ahead: this one moves up, live (a queue frame).
    status, claimed = await first.request("POST", f"/agent/conversations/{before}/claim", token=agent)
    assert status == 200, claimed
    moved, ahead_moved = await shown_place(chat, first, agent, sender)
    assert before not in ahead_moved
    if ahead_moved == [c for c in ahead_now if c != before]:
        assert moved == now - 1
    status, released = await first.request("POST", f"/agent/conversations/{before}/release", token=agent)
    assert status == 200, released

    # Stop waiting, with the keyboard: back with the assistant.
    await stop.focus()
    await chat.keyboard.press("Enter")
    await expect(chat.locator(".message--system").filter(has_text="You're back with the assistant.")).to_be_visible()
    await expect(bot_bubbles(chat, response_text("utter_bot_assigned"))).to_be_visible()
    await expect(chat.locator("#chat-status-text")).to_have_text("Assistant · answers instantly")
    await expect(stop).to_be_hidden()
    await expect(place).to_be_empty()
    await expect(chat.get_by_role("textbox", name="Message")).to_be_focused()
    status, conversation = await first.request("GET", f"/agent/conversations/{sender}", token=agent)
    assert status == 200 and conversation["state"] == "bot", conversation
    assert sender not in await waiting_order(second, agent)

    await customer_says(chat, "hello")
    await expect(bot_bubbles(chat, response_text("utter_greet"))).to_have_count(1)
    await expect(stop).to_be_hidden()

    # The customer behind leaves the queue too, so the other tests find it as it was.
    status, cancelled = await second.request("POST", "/customer/cancel", token=behind_answer["customer_token"])
    assert status == 200 and cancelled["state"] == "bot", cancelled
    assert log.unexpected([]) == [], log.errors


async def test_an_away_agent_is_not_notified(stack: Stack, browser: Browser, second: ApiClient) -> None:
    """An agent sets themselves Away → a customer handed over appears in Waiting, but
    without a toast or a sound → back Online, the next customer raises both."""
    log = ConsoleLog()
    console = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "away-console", DESKTOP)
    await sign_in(console, agent_token("paula", name="Paula Roy"))
    await console.get_by_role("tab", name=re.compile("^Waiting")).click()  # a gesture: sound could play now
    presence = console.get_by_label("Your status")
    await presence.select_option("away")
    await expect(console.locator(".toast").filter(has_text="You are Away.")).to_be_visible()
    tones = await console.evaluate("window.__tones")
    async with waiting_customers(second) as hand_over:
        quiet = await hand_over("while-away")
        await expect(waiting_item(console, quiet)).to_be_visible()  # the list still updates
        await expect(console).to_have_title(re.compile(r"^\(\d+\) Handoff console$"))
        assert await console.locator(".toast").filter(has_text="New customer waiting").count() == 0
        assert await console.evaluate("window.__tones") == tones, "Away, yet a sound was played"

        await presence.select_option("online")
        await expect(console.locator(".toast").filter(has_text="You are Online.")).to_be_visible()
        loud = await hand_over("while-online")
        await expect(waiting_item(console, loud)).to_be_visible()
        await expect(console.locator(".toast").filter(has_text=f"New customer waiting: {loud}")).to_be_visible()
        await expect(console.locator(".toast").filter(has_text=f"New customer waiting: {quiet}")).to_have_count(0)
        assert await console.evaluate("window.__tones") > tones, "Online, yet no sound was played"
    assert log.unexpected([]) == [], log.errors


async def test_the_waiting_list_keeps_keyboard_focus_as_it_changes(
    stack: Stack, browser: Browser, second: ApiClient
) -> None:
    """An agent on the keyboard has a waiting customer focused; another customer arrives
    and the list is drawn anew: the focus stays on the same customer, and Enter opens it."""
    log = ConsoleLog()
    console = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "focus-console", DESKTOP)
    await sign_in(console, agent_token("kim", name="Kim Ito"))
    await console.get_by_role("tab", name=re.compile("^Waiting")).click()
    async with waiting_customers(second) as hand_over:
        first = await hand_over("focused")
        item = waiting_item(console, first)
        await item.focus()
        await expect(item).to_be_focused()
        later = await hand_over("arriving")
        await expect(waiting_item(console, later)).to_be_visible()  # the list was drawn anew
        assert await console.evaluate("document.activeElement.dataset.id") == first
        await console.keyboard.press("Enter")
        await expect(console.get_by_role("button", name="Start Chat")).to_be_visible()
        await expect(console.locator("#conversation-list .item[aria-current=true]")).to_have_attribute("data-id", first)
    assert log.unexpected([]) == [], log.errors


async def test_add_to_training_proposes_an_intent_with_an_entity(
    stack: Stack, browser: Browser, first: ApiClient, second: ApiClient
) -> None:
    """A customer handed over and taken through the API → the agent opens the chat in
    the console, Add to training on a customer message: a new intent's name is checked
    as the API checks it, an entity's value must occur in the text, the API's 409 is
    shown in the dialog → proposing a new intent with one entity, selected in the text
    → stored with the flag and the entity's span (in characters, after an emoji)."""
    log = ConsoleLog()
    tag = os.urandom(3).hex()
    token = agent_token("tess", name="Tess Ford")
    sender = f"train-{tag}"
    order = f"QX{tag.upper()}"
    said = f"please 🙏 cancel order {order} today"
    status, answer = await second.say(sender, GIBBERISH)
    assert status == 200 and answer["state"] == "waiting", answer
    status, claimed = await first.request("POST", f"/agent/conversations/{sender}/claim", token=token)
    assert status == 200, claimed
    try:
        status, answer = await second.say(sender, said, answer["customer_token"])
        assert status == 200, answer

        console = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "tess", DESKTOP)
        await sign_in(console, token)
        await console.get_by_role("tab", name=re.compile("^Mine")).click()
        await waiting_item(console, sender).click()
        message = console.locator("#transcript .msg--customer").filter(has_text=said)
        await expect(message).to_be_visible()
        await message.get_by_role("button", name="Add to training").click()
        dialog = console.get_by_role("dialog", name="Add to training")
        await expect(dialog.get_by_label("Example text")).to_have_value(said)
        new_intent = dialog.get_by_label("New intent name")
        await expect(new_intent).to_be_hidden()
        await dialog.get_by_label("Intent", exact=True).select_option(label="Propose a new intent…")
        await expect(new_intent).to_be_visible()

        # The name as the API wants it: no spaces.
        await new_intent.fill("cancel order")
        await dialog.get_by_role("button", name="Add example").click()
        error = dialog.get_by_role("alert")
        await expect(error).to_contain_text("may hold only letters, digits and _ / . -")
        await expect(new_intent).to_be_focused()
        await expect(new_intent).to_have_attribute("aria-invalid", "true")
        intent = f"cancel_order_{tag}"
        await new_intent.fill(intent)

        # An entity from the selected text; a second one whose value is not in the text.
        start = said.index(order)
        await dialog.get_by_label("Example text").evaluate(
            "(box, [from, to]) => box.setSelectionRange(from, to)",
            [len(said[:start].encode("utf-16-le")) // 2, len(said[: start + len(order)].encode("utf-16-le")) // 2],
        )
        await dialog.get_by_role("button", name="Add entity").click()
        name = dialog.get_by_label("Entity 1 name")
        await expect(name).to_be_focused()
        await expect(dialog.get_by_label("Entity 1 value")).to_have_value(order)
        await name.press_sequentially("order_id")
        await dialog.get_by_role("button", name="Add entity").click()
        await dialog.get_by_label("Entity 2 name").fill("city")
        await dialog.get_by_label("Entity 2 value").fill("Berlin")
        await dialog.get_by_role("button", name="Add example").click()
        await expect(error).to_have_text("Entity 2: “Berlin” does not occur in the example text.")
        await expect(dialog.get_by_label("Entity 2 value")).to_be_focused()
        await dialog.get_by_role("button", name="Remove entity 2").click()
        await expect(dialog.get_by_label("Entity 2 name")).to_have_count(0)
        await console.screenshot(path=str(SCREENSHOTS / "console-training-dialog.png"))

        # The API's refusal is shown in the dialog (a 409 the server gives when the
        # examples keep changing, answered here by the test).
        busy = {"error": "busy", "message": "The training examples changed meanwhile; try again."}
        await console.route("**/training-examples", lambda route: route.fulfill(status=409, json=busy), times=1)
        await dialog.get_by_role("button", name="Add example").click()
        await expect(error).to_have_text(f"Not added: {busy['message']} Try again.")
        await expect(dialog).to_be_visible()

        await dialog.get_by_role("button", name="Add example").click()
        await expect(dialog).to_be_hidden()
        await expect(message.locator(".trained-tag")).to_have_text(f"Training: {intent}")
        await expect(console.locator(".toast").filter(has_text=f"proposing the new intent “{intent}”")).to_be_visible()

        status, stored = await second.request("GET", "/agent/training-examples", token=token)
        assert status == 200, stored
        found = [e for e in stored["examples"] if e["text"] == said]
        assert len(found) == 1, stored
        example = found[0]
        assert example["intent"] == intent and example["proposed_intent"] is True, example
        assert example["agent"] == "tess" and example["conversation"] == sender, example
        assert example["entities"] == [
            {"entity": "order_id", "value": order, "start": start, "end": start + len(order)}
        ], example
        assert said[example["entities"][0]["start"] : example["entities"][0]["end"]] == order

        # On a phone: the dialog with a new intent and an entity row fits the screen.
        phone = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "tess-phone", PHONE)
        await sign_in(phone, token)
        await phone.get_by_role("tab", name=re.compile("^Mine")).click()
        await waiting_item(phone, sender).click()
        said_there = phone.locator("#transcript .msg--customer").filter(has_text=said)
        await said_there.get_by_role("button", name="Add to training").click()
        small = phone.get_by_role("dialog", name="Add to training")
        await small.get_by_label("Intent", exact=True).select_option(label="Propose a new intent…")
        await expect(small.get_by_label("New intent name")).to_be_visible()
        await small.get_by_role("button", name="Add entity").click()
        await expect(small.get_by_label("Entity 1 name")).to_be_focused()
        box = await small.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the dialog scrolls sideways ({width}px)"
        await phone.screenshot(path=str(SCREENSHOTS / "console-training-dialog-phone.png"))
        await small.get_by_role("button", name="Cancel").click()
        await expect(small).to_be_hidden()
        await expect(said_there.get_by_role("button", name="Add to training")).to_be_focused()
    finally:
        status, _ = await first.request("POST", f"/agent/conversations/{sender}/release", token=token)
        assert status == 200
    assert log.unexpected([f"tess: {CONFLICT}"]) == [], log.errors


async def test_trainer_reviews_examples_in_the_training_view(
    stack: Stack, browser: Browser, first: ApiClient, second: ApiClient
) -> None:
    """With review_training on, agents' examples wait → a trainer opens Training: the
    pending examples with their intent, the new-intent flag, entities, who added them
    where and a conflict → edits one's intent to a domain intent and accepts it (by
    keyboard), rejects another → the states, as the API shows. A plain agent has no
    Training button; the view fits a phone."""
    log = ConsoleLog()
    tag = os.urandom(3).hex()
    admin = agent_token("ivan", role="admin", name="Ivan Holt")
    trainer = agent_token("trina", role="trainer", name="Trina Wolf")
    plain = agent_token("pete", name="Pete Marsh")
    status, before = await first.request("GET", "/agent/settings", token=admin)
    assert status == 200, before
    sender = f"review-{tag}"
    status, answer = await second.say(sender, "hello")
    assert status == 200, answer
    texts = {
        "edit": f"where has my stuff {tag} gone",
        "reject": f"blorf zzvb {tag}",
        "conflict": "hello",
    }
    try:
        status, changed = await first.request("PATCH", "/agent/settings", {"review_training": True}, token=admin)
        assert status == 200 and changed["review_training"] is True, changed
        bodies = {
            "edit": {
                "text": texts["edit"],
                "intent": f"stuff_{tag}",
                "entities": [{"start": 19, "end": 25, "entity": "ref"}],
            },
            "reject": {"text": texts["reject"], "intent": "greet"},
            "conflict": {"text": texts["conflict"], "intent": f"hello_{tag}"},
        }
        for body in bodies.values():
            status, added = await first.request(
                "POST", f"/agent/conversations/{sender}/training-examples", body, token=plain
            )
            assert status == 201 and added["example"]["status"] == "pending", added

        # A plain agent has no Training button.
        agent_page = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "pete", DESKTOP)
        await sign_in(agent_page, plain)
        await expect(agent_page.get_by_role("button", name="Stats")).to_be_visible()
        await expect(agent_page.get_by_role("button", name="Training", exact=True)).to_have_count(0)

        console = await open_page(browser, f"{stack.rasa[1].handoff}/console/", log, "trina", DESKTOP)
        await sign_in(console, trainer)
        button = console.get_by_role("button", name="Training", exact=True)
        await button.click()
        await expect(button).to_have_attribute("aria-pressed", "true")
        view = console.locator("#training-view")
        await expect(view.get_by_role("heading", name="Training examples")).to_be_focused()
        await expect(view.get_by_label("Show examples")).to_have_value("pending")

        def item(key: str) -> Locator:
            return view.locator(".example-item").filter(has=console.locator(".example-text", has_text=texts[key]))

        edited = item("edit")
        await expect(edited.locator(".example-status")).to_have_text("Pending")
        await expect(edited.locator(".example-intent")).to_have_text(f"Intent: stuff_{tag}")
        await expect(edited.locator(".example-new-intent")).to_have_text("New intent")
        await expect(edited.locator(".entity-chip")).to_have_text(f"ref = {tag}")
        await expect(edited.locator("mark")).to_have_text(tag)
        await expect(edited.locator(".example-meta")).to_contain_text(f"Added by pete in {sender}")
        conflicted = item("conflict")
        await expect(conflicted.locator(".example-conflict")).to_contain_text(
            "the same text trains “greet” in the NLU data (data/)"
        )
        await expect(item("reject").locator(".example-new-intent")).to_have_count(0)
        await expect(item("reject")).not_to_contain_text("null")
        await console.screenshot(path=str(SCREENSHOTS / "console-training.png"))

        # Edit the intent to one of the domain's: no longer a new intent, still pending.
        await edited.get_by_role("button", name="Edit").click()
        form = view.get_by_role("form", name=f"Edit the example “{texts['edit']}”")
        await expect(form.get_by_label("Example text")).to_be_focused()
        await form.get_by_label("Intent").fill("order_status")
        await form.get_by_role("button", name="Save").click()
        await expect(edited.locator(".example-intent")).to_have_text("Intent: order_status")
        await expect(edited.locator(".example-new-intent")).to_have_count(0)
        await expect(edited.locator(".example-status")).to_have_text("Pending")
        await expect(edited.locator(".entity-chip")).to_have_text(f"ref = {tag}")
        await expect(edited.get_by_role("button", name="Edit")).to_be_focused()

        # Accept with the keyboard; reject the other: both leave the pending list.
        accept = edited.get_by_role("button", name="Accept")
        await accept.focus()
        await console.keyboard.press("Enter")
        await expect(edited).to_have_count(0)
        await expect(view.locator("#training-summary")).to_contain_text(f"Accepted “{texts['edit']}” as order_status.")
        await item("reject").get_by_role("button", name="Reject").click()
        await expect(item("reject")).to_have_count(0)

        await view.get_by_label("Show examples").select_option("all")
        await expect(edited.locator(".example-status")).to_have_text("Accepted")
        await expect(edited.get_by_role("button", name="Accept")).to_have_count(0)
        await expect(item("reject").locator(".example-status")).to_have_text("Rejected")
        await expect(item("conflict").locator(".example-status")).to_have_text("Pending")

        status, stored = await second.request("GET", "/agent/training-examples?status=all", token=plain)
        assert status == 200, stored
        by_text = {e["text"]: e for e in stored["examples"]}
        accepted = by_text[texts["edit"]]
        assert accepted["status"] == "accepted" and accepted["intent"] == "order_status", accepted
        assert accepted["proposed_intent"] is False and accepted["reviewed_by"] == "trina", accepted
        assert accepted["entities"] == [{"start": 19, "end": 25, "entity": "ref", "value": tag}], accepted
        assert by_text[texts["reject"]]["status"] == "rejected", by_text[texts["reject"]]
        assert by_text[texts["conflict"]]["status"] == "pending"

        # Closing gives the focus back to the button; Stats takes the view's place.
        await view.get_by_role("button", name="Close training").click()
        await expect(view).to_be_hidden()
        await expect(button).to_be_focused()
        await button.click()
        await console.get_by_role("button", name="Stats").click()
        await expect(view).to_be_hidden()
        await expect(button).to_have_attribute("aria-pressed", "false")

        # On a phone: the list fits, its buttons are in reach.
        phone = await open_page(browser, f"{stack.rasa[0].handoff}/console/", log, "trina-phone", PHONE)
        await sign_in(phone, trainer)
        await phone.get_by_role("button", name="Training", exact=True).click()
        pending = phone.locator("#training-view .example-item").filter(has_text=texts["conflict"])
        await expect(pending.get_by_role("button", name="Accept")).to_be_in_viewport()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the Training view scrolls sideways ({width}px)"
        await phone.screenshot(path=str(SCREENSHOTS / "console-training-phone.png"))
    finally:
        # The other tests get the desk (and no pending example of this one) as it was.
        status, _ = await first.request(
            "PATCH", "/agent/settings", {"review_training": before["review_training"]}, token=admin
        )
        assert status == 200
        status, listed = await first.request("GET", "/agent/training-examples?status=pending", token=admin)
        for example in listed["examples"] if status == 200 else []:
            if example["conversation"] == sender:
                await first.request(
                    "PATCH", f"/agent/training-examples/{example['id']}", {"status": "rejected"}, token=admin
                )
    assert log.unexpected([]) == [], log.errors
