import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { ItemView, waveformPath } from "../src/Item";
import { apiError, fakeApi } from "./fake";

function info(tags: string[], collections: string[]) {
  return {
    item: { id: 5, path: "/lib/forest.jpg", name: "forest.jpg", media_type: "other", mime_type: null, size: 1000, file_hash: "ab", status: "present", created_at: "2024-01-01T00:00:00Z" },
    metadata: {},
    tags,
    collections,
    same_content: ["/lib/copy.jpg"],
    copies: [{ id: 9, path: "/lib/copy.jpg" }],
    history: [{ cursor: 3, at: "2024-01-02T10:00:00.123Z", kind: "moved", path: "/lib/forest.jpg", old_path: "/lib/old.jpg" }],
  };
}

describe("ItemView", () => {
  it("adds and removes a tag through the API, and shows the catalog's answer", async () => {
    let tags = ["old"];
    const calls = fakeApi([
      ["GET /items/5", () => info(tags, [])],
      ["GET /collections", () => ({ collections: [] })],
      ["POST /tags/add", (c) => { tags = [...tags, (c.body as { tag: string }).tag]; return { tag: "x", added: 1, already: 0, items: 1 }; }],
      ["POST /tags/remove", (c) => { tags = tags.filter((t) => t !== (c.body as { tag: string }).tag); return { tag: "x", removed: 1, items: 0 }; }],
    ]);
    render(<ItemView id={5} canEdit />);
    fireEvent.change(await screen.findByRole("textbox", { name: "New tag" }), { target: { value: " holiday " } });
    fireEvent.click(screen.getAllByRole("button", { name: "Add" })[0]);
    await screen.findByRole("link", { name: "holiday" });
    expect(calls.find((c) => c.path === "/tags/add")).toMatchObject({ method: "POST", body: { tag: "holiday", ids: [5] } });
    fireEvent.click(screen.getByRole("button", { name: "Remove tag old" }));
    await waitFor(() => expect(screen.queryByRole("link", { name: "old" })).toBeNull());
    expect(calls.find((c) => c.path === "/tags/remove")).toMatchObject({ body: { tag: "old", ids: [5] } });
  });

  it("adds to a new collection by creating it first; shows copies and history", async () => {
    let collections: string[] = [];
    const made: string[] = [];
    const calls = fakeApi([
      ["GET /items/5", () => info([], collections)],
      ["GET /collections", () => ({ collections: [] })],
      ["POST /collections", (c) => { made.push((c.body as { name: string }).name); return { collection: "x", id: 1, created: true }; }],
      ["POST /collections/[^/]+/add", (c) => {
        const name = decodeURIComponent(c.path.split("/")[2]);
        if (!made.includes(name)) return apiError(404, "not_found", `no collection named '${name}'`);
        collections = [...collections, name];
        return { collection: name, added: 1, items: 1 };
      }],
    ]);
    render(<ItemView id={5} canEdit />);
    fireEvent.change(await screen.findByRole("textbox", { name: "New collection" }), { target: { value: "Best of 2024" } });
    fireEvent.click(screen.getAllByRole("button", { name: "Add" })[1]);
    await screen.findByRole("link", { name: "Best of 2024" });
    expect(made).toEqual(["Best of 2024"]);
    expect(calls.filter((c) => c.path === "/collections/Best%20of%202024/add").map((c) => c.body)).toEqual([{ ids: [5] }, { ids: [5] }]);
    expect(screen.getByRole("link", { name: "/lib/copy.jpg" }).getAttribute("href")).toBe("/item/9");
    expect(screen.getByRole("list", { name: "History" }).textContent).toContain("moved");
    expect(screen.getByRole("list", { name: "History" }).textContent).toContain("from /lib/old.jpg");
  });

  it("shows a read token no edit controls", async () => {
    fakeApi([["GET /items/5", () => info(["old"], ["trip"])]]);
    render(<ItemView id={5} canEdit={false} />);
    await screen.findByRole("link", { name: "trip" });
    expect(screen.queryByRole("textbox")).toBeNull();
    expect(screen.queryByRole("button", { name: /Remove/ })).toBeNull();
  });

  it("draws an audio item's waveform with the play position, and none where there is none", async () => {
    const audio = (id: number) => ({ ...info([], []), item: { ...info([], []).item, id, name: `song${id}.flac`, media_type: "audio", mime_type: null }, metadata: { duration_s: 10 } });
    const peaks = Array.from({ length: 200 }, (_, i) => [-(i * 100), i * 100]);
    fakeApi([
      ["GET /items/7", () => audio(7)],
      ["GET /items/7/waveform", () => ({ id: 7, peaks })],
      ["GET /items/8", () => audio(8)],
    ]);
    const { container, unmount } = render(<ItemView id={7} canEdit={false} />);
    const wave = await screen.findByRole("img", { name: /^Waveform of song7.flac, 0:10 long: played 0:00/ });
    expect(wave.getAttribute("data-peaks")).toBe("200");
    expect(wave.querySelector("path.wave")?.getAttribute("d")?.match(/M/g)).toHaveLength(200);
    const player = container.querySelector("audio") as HTMLAudioElement;
    Object.defineProperty(player, "currentTime", { configurable: true, value: 2.5 });
    fireEvent.timeUpdate(player);
    await waitFor(() => expect(wave.getAttribute("data-position")).toBe("0.2500"));
    expect(wave.querySelector("line.cursor")?.getAttribute("x1")).toBe("50");
    unmount();
    render(<ItemView id={8} canEdit={false} />); // GET /items/8/waveform: 404
    await screen.findByLabelText("song8.flac");
    expect(document.querySelector("svg.waveform")).toBeNull();
  });

  it("scales the waveform to its loudest peak, silence a hairline", () => {
    expect(waveformPath([[-100, 200], [0, 0]])).toBe("M0.5 0.0V75.0M1.5 50.0V50.5");
  });
});
