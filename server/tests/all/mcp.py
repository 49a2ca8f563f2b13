# Drives SoulBox's MCP server with the official MCP Python SDK, over stdio or streamable HTTP.
# argv: "stdio" <command> [args...]  |  "http" <url>  (token in SOULBOX_TOKEN)
import anyio, base64, json, os, sys
from mcp.client.session import ClientSession

async def exercise(session):
    out = {}
    await session.initialize()
    tools = await session.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    out["described"] = all(len(t.description or "") > 40 for t in tools.tools)
    r = await session.call_tool("run_code", {"language": "python", "code": "print(6 * 7)"})
    out["run"] = [r.is_error if hasattr(r, "is_error") else r.isError, r.content[0].text]
    r = await session.call_tool("create_session", {"language": "python"})
    sid = r.content[0].text
    await session.call_tool("run_code", {"language": "python", "code": "x = 41", "session_id": sid})
    r = await session.call_tool("run_code", {"language": "python", "code": "x + 1", "session_id": sid})
    out["session"] = r.content[0].text
    r = await session.call_tool("run_code", {"language": "python", "code":
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.savefig('plot.png')"})
    images = [c for c in r.content if c.type == "image"]
    out["images"] = [getattr(c, "mime_type", None) or getattr(c, "mimeType", None) for c in images]
    out["png"] = base64.b64decode(images[0].data)[:4].hex() if images else None
    await session.call_tool("write_file", {"path": "notes/a.txt", "content": "hello"})
    r = await session.call_tool("read_file", {"path": "notes/a.txt"})
    out["read"] = r.content[0].text
    r = await session.call_tool("list_files", {})
    out["listed"] = r.content[0].text
    r = await session.call_tool("run_code", {"language": "python", "code": "1 / 0"})
    out["error"] = [r.is_error if hasattr(r, "is_error") else r.isError, "ZeroDivisionError" in r.content[0].text]
    r = await session.call_tool("read_file", {"path": "../../etc/passwd"})
    out["escape"] = [r.is_error if hasattr(r, "is_error") else r.isError, r.content[0].text]
    r = await session.call_tool("install_package", {"language": "python", "packages": ["idna"]})
    r2 = await session.call_tool("run_code", {"language": "python", "code": "import idna; print(idna.encode('b\u00fccher.de'))"})
    r3 = await session.call_tool("install_package", {"language": "python", "packages": ["pycrypto"]})
    out["install"] = [r.content[0].text, r2.content[0].text, r3.is_error if hasattr(r3, "is_error") else r3.isError, r3.content[0].text]
    r = await session.call_tool("close_session", {"session_id": sid})
    out["closed"] = r.content[0].text
    return out

async def main():
    mode = sys.argv[1]
    if mode == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client
        params = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await exercise(session)
    else:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client
        url = sys.argv[2]
        headers = {"Authorization": "Bearer " + os.environ["SOULBOX_TOKEN"]}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as client:
            async with streamable_http_client(url, http_client=client) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    out = await exercise(session)
        async with httpx2.AsyncClient(timeout=30) as client:
            r = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                  headers={"Accept": "application/json, text/event-stream"})
            out["no_token"] = [r.status_code, r.json()["error"]["message"]]
    print(json.dumps(out))

anyio.run(main)
