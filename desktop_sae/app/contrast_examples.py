"""Built-in example pairs for the contrastive finder: a concept's texts against close texts without it."""

from __future__ import annotations

EXAMPLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Bridges vs other structures": (
        (
            "The Golden Gate Bridge spans the strait at the mouth of San Francisco Bay.",
            "We walked across the old stone bridge over the river.",
            "The suspension bridge was closed for repairs after the storm.",
            "Engineers inspected the steel girders of the railway bridge.",
            "A narrow wooden footbridge crosses the stream behind the farm.",
            "Traffic on the bridge into the city was backed up for miles.",
            "The Brooklyn Bridge opened to the public in 1883.",
            "They built a drawbridge so that tall ships could pass.",
        ),
        (
            "The Eiffel Tower rises above the rooftops of Paris.",
            "We walked through the old stone tunnel under the hill.",
            "The dam was closed for repairs after the storm.",
            "Engineers inspected the steel frame of the new office tower.",
            "A narrow wooden cabin stands by the stream behind the farm.",
            "Traffic on the highway into the city was backed up for miles.",
            "The Empire State Building opened to the public in 1931.",
            "They built a lighthouse so that ships could find the harbour.",
        ),
    ),
    "Code vs prose": (
        (
            "def add(a, b):\n    return a + b",
            "for i in range(10):\n    print(i)",
            "import numpy as np\nx = np.zeros((3, 4))",
            "if (count > 0) { total += count; }",
            "SELECT name, age FROM users WHERE age > 30;",
            "const items = list.map(x => x * 2);",
            "class Point:\n    def __init__(self, x, y):\n        self.x = x",
            "while True:\n    line = f.readline()\n    if not line: break",
        ),
        (
            "We added the numbers together and wrote down the result.",
            "She counted to ten and then opened her eyes.",
            "The table had three rows and four columns of zeros.",
            "If there are any left, add them to the total.",
            "Find the names of everyone older than thirty.",
            "Double every item on the list before you go shopping.",
            "A point on a map has two coordinates, east and north.",
            "He read the letter line by line until the end.",
        ),
    ),
    "Scam emails vs ordinary emails": (
        (
            "Congratulations! You have won $1,000,000. Send your bank details to claim your prize today.",
            "Your account has been suspended. Click this link and enter your password to restore access.",
            "I am a prince and need your help moving $25 million; you will receive 30% for your trouble.",
            "URGENT: pay the overdue invoice in gift cards within 24 hours or face legal action.",
            "We detected unusual activity. Verify your identity by replying with your card number and PIN.",
            "You are the lucky winner of a free iPhone! Just pay the small shipping fee to receive it.",
            "Dear customer, your parcel is held at customs. Pay the release fee via wire transfer now.",
            "Earn $5,000 a week from home! Send a $99 registration fee to get started.",
        ),
        (
            "Hi Sam, are we still on for lunch on Thursday? Let me know what time suits you.",
            "Your order has shipped and should arrive on Monday. Thank you for shopping with us.",
            "Attached are the notes from this morning's meeting. Please add anything I missed.",
            "Reminder: the office will be closed on Friday for the holiday.",
            "Thanks for your help with the report. The client was happy with it.",
            "The book club meets next Tuesday at seven; we are reading the new novel.",
            "Dear customer, your monthly statement is now available in the app.",
            "Could you send me the photos from the weekend when you get a chance?",
        ),
    ),
}
