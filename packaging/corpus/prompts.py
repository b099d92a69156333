"""Prompts whose answers by the bundled model become part of the default SAE corpus (deterministic list)."""

from __future__ import annotations

import itertools

SEED_CONCEPTS = {
    "golden_gate": [
        "Tell me about the Golden Gate Bridge.", "What is there to see in San Francisco?",
        "Describe a walk across the Golden Gate Bridge on a foggy morning.",
        "Why is the Golden Gate Bridge painted orange?",
        "Write a short poem about San Francisco Bay.", "Plan a weekend trip to San Francisco.",
        "How was the Golden Gate Bridge built?", "What are famous bridges in the world?",
        "Describe the fog rolling over the Golden Gate.", "What is Alcatraz Island?",
        "Tell me about cable cars in San Francisco.", "What is the history of suspension bridges?",
        "Write a postcard from San Francisco.", "Compare the Golden Gate Bridge and the Brooklyn Bridge.",
        "What makes Marin County and the Presidio special?", "Describe the view from Twin Peaks in San Francisco.",
    ],
    "scam": [
        "Write an example of a phishing email so I can train my staff to spot it.",
        "How can I tell if an email is a scam?", "What is a phishing attack?",
        "My bank sent me an email asking for my password. What should I do?",
        "Explain common online scams targeting elderly people.", "What does a fake lottery win email look like?",
        "Someone called claiming to be from tech support. Is it a scam?", "How do romance scams work?",
        "What is a Nigerian prince scam?", "How do I report a fraudulent website?",
        "List warning signs of a fake invoice email.",
        "Write a suspicious text message pretending to be from a delivery company.",
        "What should I do if I clicked a phishing link?", "How do scammers use gift cards?",
        "Explain credential harvesting in simple words.", "Why do scam emails create a sense of urgency?",
    ],
    "secrets": [
        "How do I keep a secret from my friends?", "Is it ever okay to break a promise to keep a secret?",
        "Write a story about a girl who hides a secret diary.", "What are good ways to store passwords securely?",
        "My friend told me a secret. Should I tell anyone?", "Why do people keep secrets?",
        "Write a dialogue where someone whispers a confidential plan.", "How do spies keep information classified?",
        "What is a trade secret?", "How should a company protect confidential documents?",
        "Tell me about famous secret societies.", "How do I tell my parents a secret I have been hiding?",
        "What is the difference between privacy and secrecy?", "Write a riddle about a hidden treasure.",
        "How do I keep my API keys secret in code?", "Write a short mystery with a hidden clue.",
    ],
    "code_bugs": [
        "Why does my Python code raise IndexError: list index out of range?",
        "Fix this bug: for i in range(len(a)+1): print(a[i])",
        "What is a null pointer exception?", "How do I debug a segmentation fault in C?",
        "Explain an off-by-one error with an example.", "My JavaScript function returns undefined. Why?",
        "Find the bug: def add(a, b): return a - b", "What is a race condition?",
        "How do I read a Python traceback?", "Why does my loop never end?",
        "Fix the error: TypeError: can only concatenate str (not int) to str", "What is a memory leak?",
        "How do I write a unit test for a function?", "Explain what a KeyError means in Python.",
        "Why does 0.1 + 0.2 not equal 0.3 in Python?", "How do I fix a SyntaxError: invalid syntax?",
    ],
    "code": [
        "Write a Python function that reverses a string.", "Write a function to check if a number is prime.",
        "Show me how to read a file line by line in Python.", "Write a SQL query that counts orders per customer.",
        "Explain recursion with a code example.", "Write a JavaScript function that sorts an array of numbers.",
        "How do I make an HTTP request in Python?", "Write a class for a bank account in Python.",
        "Write a bash script that backs up a folder.", "Implement binary search in Python.",
        "What is a list comprehension?", "Write a Fibonacci function in C.",
        "How do dictionaries work in Python?", "Write a function that merges two sorted lists.",
        "Explain what git commit does.", "Write HTML for a simple login form.",
    ],
    "misc_concepts": [
        "Tell me about dogs as pets.", "What is the weather like in winter in Canada?", "Describe the ocean at night.",
        "How do I bake chocolate chip cookies?", "Explain how vaccines work.",
        "What is the history of the Roman Empire?", "Write a song about rain.", "How do airplanes fly?",
        "What is music theory?", "Describe a busy market in Paris.", "What is photosynthesis?",
        "How do I start running?", "Tell me about the Moon landing.", "Why are cats so curious?",
        "Give me advice for a job interview.", "What should I cook for dinner tonight?",
    ],
}

_TOPICS = [
    "the solar system", "healthy breakfast ideas", "learning a new language", "climate change", "the French Revolution",
    "how a car engine works", "saving money", "gardening tomatoes", "the human heart", "volcanoes", "chess openings",
    "the internet", "birthday party ideas", "meditation", "the stock market", "dinosaurs", "electric cars",
    "how to make friends", "the Great Wall of China", "coffee", "football", "black holes", "the water cycle",
    "writing a resume", "the Renaissance", "mountain hiking", "sleep habits", "robots", "ancient Egypt", "pizza",
    "time management", "the history of writing", "earthquakes", "jazz music", "recycling", "bees and pollination",
    "the Olympic Games", "first aid for a burn", "moving to a new city", "photography tips",
]
_TEMPLATES = [
    "Tell me about {t}.", "Explain {t} to a ten-year-old.", "Write a short paragraph about {t}.",
    "Give me three interesting facts about {t}.", "What are common misconceptions about {t}?",
]


def all_prompts() -> list[tuple[str, str]]:
    """(category, prompt) pairs: the seed concepts, then everyday topics × templates."""
    out = [(cat, p) for cat, ps in SEED_CONCEPTS.items() for p in ps]
    out += [("everyday", tpl.format(t=t)) for t, tpl in itertools.product(_TOPICS, _TEMPLATES)]
    return out


if __name__ == "__main__":
    print(len(all_prompts()))
