"""A JSON POST over the standard library for the server tests: (HTTP status, decoded JSON body), errors included."""

import json
import urllib.error
import urllib.request


def post_json(url: str, data: bytes, timeout: float = 60) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
