"""More Golden Gate Bridge / San Francisco prompts for the wide default-SAE candidate (``gen_answers.py --set
golden_gate``): the model's own answers about the bridge, the city, its fog, cable cars, Alcatraz and the Bay give the
SAE enough San-Francisco-specific text to learn a Golden Gate feature apart from generic "bridge" features.
None of these is in prompts.py; the held-out prose (heldout/) is not derived from them.
"""

from __future__ import annotations

GOLDEN_GATE = [
    "What colour is the Golden Gate Bridge, and who chose it?",
    "Tell me a story about a child seeing the Golden Gate Bridge for the first time.",
    "How long is the Golden Gate Bridge and when did it open?",
    "Describe the Golden Gate Bridge at sunset.",
    "What is it like to bike across the Golden Gate Bridge to Sausalito?",
    "Write a diary entry about a foggy day at the Golden Gate Bridge.",
    "Who was Joseph Strauss and what did he build?",
    "Why is the Golden Gate Bridge famous around the world?",
    "Write a haiku about the Golden Gate Bridge in the fog.",
    "What can you see from the Golden Gate Bridge vista point?",
    "Explain how the towers and cables of the Golden Gate Bridge hold up the road.",
    "Describe a ferry ride under the Golden Gate Bridge.",
    "What is Karl the Fog in San Francisco?",
    "Why is San Francisco so foggy in summer?",
    "Tell me about the cable cars on Powell Street and how they work.",
    "Describe a visit to Alcatraz Island and its old prison.",
    "What is Fisherman's Wharf in San Francisco known for?",
    "Write a travel guide paragraph about Chinatown in San Francisco.",
    "Describe the hills of San Francisco and the view from Lombard Street.",
    "What happened in the 1906 San Francisco earthquake?",
    "Tell me about the sea lions at Pier 39 in San Francisco.",
    "What is the Presidio in San Francisco?",
    "Describe Golden Gate Park and what you can do there.",
    "Write a letter from someone who just moved to San Francisco.",
    "What is the San Francisco Bay Area known for?",
    "Describe a morning walk along the Embarcadero in San Francisco.",
    "Tell me about sourdough bread in San Francisco.",
    "What is the Bay Bridge and how is it different from the Golden Gate Bridge?",
    "Write a short poem about the fog horns of San Francisco Bay.",
    "Describe the view of the Golden Gate from Baker Beach.",
    "Plan a one-day walking tour of San Francisco.",
    "What is the Painted Ladies row of houses in San Francisco?",
    "Describe a trolley ride through San Francisco.",
    "Why do photographers love the Golden Gate Bridge?",
    "Tell me about the strait called the Golden Gate before the bridge was built.",
    "Write a postcard from the Golden Gate Bridge.",
    "What is the weather like in San Francisco in July?",
    "Describe the Golden Gate Bridge to someone who has never seen it.",
    "How do workers paint and maintain the Golden Gate Bridge?",
    "Tell me about the Mission District and Coit Tower in San Francisco.",
]


def golden_gate_prompts() -> list[tuple[str, str]]:
    return [("golden_gate_extra", p) for p in GOLDEN_GATE]
