import { useEffect, useRef, useState } from "react";
import { api, contentUrl, formatBytes, formatDuration, type InfoReply, type ItemEvent } from "./api";
import { Chips } from "./Chips";
import { onLink } from "./router";

const LABELS: Record<string, string> = {
  title: "Title", artist: "Artist", album: "Album", album_artist: "Album artist", composer: "Composer", genre: "Genre", year: "Year", date: "Date",
  track_number: "Track", track_total: "Tracks", disc_number: "Disc", disc_total: "Discs",
  taken_at: "Taken", taken_offset: "UTC offset", camera_make: "Camera make", camera_model: "Camera model", lens: "Lens",
  exposure_time: "Exposure", f_number: "Aperture", iso: "ISO", focal_length: "Focal length",
  width: "Width", height: "Height", display_width: "Display width", display_height: "Display height", display_aspect: "Aspect", orientation: "Orientation", rotation: "Rotation",
  duration_s: "Duration", bit_rate: "Bit rate", container: "Container", video_codec: "Video codec", audio_codec: "Audio codec", fps: "Frame rate", frame_count: "Frames",
  sample_rate: "Sample rate", channels: "Channels", bits_per_sample: "Bits per sample", lossless: "Lossless", has_cover: "Cover art",
  video_streams: "Video streams", audio_streams: "Audio streams", subtitle_streams: "Subtitle streams",
  gps_latitude: "Latitude", gps_longitude: "Longitude", gps_altitude: "Altitude", thumb_status: "Thumbnail", thumb_error: "Thumbnail error", extracted_at: "Read at",
};

function show(key: string, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (key === "duration_s" && typeof value === "number") return formatDuration(value);
  if (key === "bit_rate" && typeof value === "number") return `${Math.round(value / 1000)} kb/s`;
  if (key === "sample_rate" && typeof value === "number") return `${value} Hz`;
  if (key === "exposure_time" && typeof value === "number") return value < 1 ? `1/${Math.round(1 / value)} s` : `${value} s`;
  if (key === "f_number" && typeof value === "number") return `f/${value}`;
  if (key === "focal_length" && typeof value === "number") return `${value} mm`;
  if (key === "fps" && typeof value === "number") return `${value.toFixed(2)} fps`;
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function Preview({ info }: { info: InfoReply }) {
  const { item } = info;
  const [failed, setFailed] = useState(false);
  const mime = item.mime_type ?? "";
  const src = contentUrl(item.id);
  const cannot = (
    <p className="cannot" role="status">
      This browser cannot play {mime || "this format"}. <a href={src} download={item.name}>Download the file</a>.
    </p>
  );
  if (item.media_type === "video" || item.media_type === "audio") {
    const probe = document.createElement(item.media_type);
    if (failed || (mime && probe.canPlayType(mime) === "")) return cannot;
    return item.media_type === "video" ? (
      <video className="preview" src={src} controls preload="metadata" onError={() => setFailed(true)} aria-label={item.name} />
    ) : (
      <AudioPlayer id={item.id} name={item.name} src={src} duration={info.metadata.duration_s as number | undefined} onError={() => setFailed(true)} />
    );
  }
  if (item.media_type === "image") {
    // The browser applies EXIF orientation to an <img>; a format it cannot decode (HEIC,
    // raw) falls back to the thumbnail, which the daemon made already turned.
    const thumb = item.file_hash && info.metadata.thumb_status === "ok" ? `/api/v1/items/${item.id}/thumbnail?v=${item.file_hash}` : null;
    if (failed) return thumb ? <img className="preview" src={thumb} alt={item.name} /> : cannot;
    return <img className="preview" src={src} alt={String(info.metadata.title ?? item.name)} onError={() => setFailed(true)} />;
  }
  return <p className="cannot">No preview for {mime || "this file"}.</p>;
}

/** The waveform's [min, max] peaks as an SVG path: one vertical stroke per peak, scaled to
 * the loudest, in a box `peaks.length` wide and 100 high (0 in the middle). */
export function waveformPath(peaks: [number, number][]): string {
  const loudest = Math.max(1, ...peaks.map(([lo, hi]) => Math.max(Math.abs(lo), Math.abs(hi))));
  const y = (v: number) => (50 - (v / loudest) * 50).toFixed(1);
  // At least a hair's height, so that silence still draws a line.
  return peaks.map(([lo, hi], i) => `M${i + 0.5} ${y(hi)}V${Math.max(Number(y(lo)), Number(y(hi)) + 0.5).toFixed(1)}`).join("");
}

function useWaveform(id: number): [number, number][] | null {
  const [peaks, setPeaks] = useState<[number, number][] | null>(null);
  useEffect(() => {
    setPeaks(null);
    // 404: none (yet, or not audio the decoder could read): the player stands alone.
    api<{ peaks: [number, number][] }>(`/items/${id}/waveform`).then((r) => setPeaks(r.peaks.length ? r.peaks : null), () => setPeaks(null));
  }, [id]);
  return peaks;
}

/** The browser's audio player under the file's waveform (GET /items/{id}/waveform), the part
 * played so far coloured, a line at the play position; a click on the waveform seeks. */
function AudioPlayer({ id, name, src, duration, onError }: { id: number; name: string; src: string; duration?: number; onError: () => void }) {
  const peaks = useWaveform(id);
  const audio = useRef<HTMLAudioElement>(null);
  const [at, setAt] = useState(0);
  const [length, setLength] = useState(duration ?? 0);
  const n = peaks?.length ?? 0;
  const fraction = length > 0 ? Math.min(1, at / length) : 0;
  const seek = (event: React.MouseEvent<SVGSVGElement>) => {
    const el = audio.current;
    if (!el || !length) return;
    const box = event.currentTarget.getBoundingClientRect();
    el.currentTime = ((event.clientX - box.left) / box.width) * length;
  };
  const d = peaks ? waveformPath(peaks) : "";
  return (
    <div className="player">
      {peaks && (
        <svg
          className="waveform"
          viewBox={`0 0 ${n} 100`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`Waveform of ${name}${length ? `, ${formatDuration(length)} long` : ""}: played ${formatDuration(at)}`}
          data-peaks={n}
          data-position={fraction.toFixed(4)}
          onClick={seek}
        >
          <title>{`Waveform of ${name} (${n} peaks)`}</title>
          <defs>
            <clipPath id={`played-${id}`}>
              <rect x="0" y="0" width={fraction * n} height="100" />
            </clipPath>
          </defs>
          <path className="wave" d={d} vectorEffect="non-scaling-stroke" />
          <path className="wave played" d={d} clipPath={`url(#played-${id})`} vectorEffect="non-scaling-stroke" />
          <line className="cursor" x1={fraction * n} x2={fraction * n} y1="0" y2="100" vectorEffect="non-scaling-stroke" />
        </svg>
      )}
      <audio
        ref={audio}
        className="preview"
        src={src}
        controls
        preload="metadata"
        onError={onError}
        aria-label={name}
        onTimeUpdate={(e) => setAt(e.currentTarget.currentTime)}
        onSeeked={(e) => setAt(e.currentTarget.currentTime)}
        onLoadedMetadata={(e) => { if (Number.isFinite(e.currentTarget.duration)) setLength(e.currentTarget.duration); }}
      />
    </div>
  );
}

function History({ events }: { events: ItemEvent[] }) {
  if (events.length === 0) return <p className="none">no changes recorded (the change log keeps events_keep_days)</p>;
  return (
    <ol className="history" aria-label="History">
      {events.map((e) => (
        <li key={e.cursor} data-kind={e.kind}>
          <time dateTime={e.at}>{e.at.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC")}</time>
          <span className="kind">{e.kind}</span>
          {e.kind === "moved" && e.old_path ? `from ${e.old_path}` : e.path}
        </li>
      ))}
    </ol>
  );
}

function useCollections(canEdit: boolean): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    if (!canEdit) return;
    api<{ collections: { collection: string }[] }>("/collections").then((r) => setNames(r.collections.map((c) => c.collection)), () => undefined);
  }, [canEdit]);
  return names;
}

export function ItemView({ id, canEdit }: { id: number; canEdit: boolean }) {
  const [info, setInfo] = useState<InfoReply | null>(null);
  const [error, setError] = useState("");
  const choices = useCollections(canEdit);
  const reload = () => api<InfoReply>(`/items/${id}`).then(setInfo, (err) => setError(err.message));
  useEffect(() => {
    setInfo(null);
    reload();
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    const back = (e: KeyboardEvent) => { if (e.key === "Escape" && document.activeElement?.tagName !== "INPUT") history.back(); };
    window.addEventListener("keydown", back);
    return () => window.removeEventListener("keydown", back);
  }, []);
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!info) return <p className="loading">Loading…</p>;
  const { item, metadata } = info;
  const copies: { id: number | null; path: string }[] = info.copies ?? info.same_content.map((path) => ({ id: null, path }));
  const lat = metadata.gps_latitude as number | undefined;
  const lon = metadata.gps_longitude as number | undefined;
  const rows: [string, React.ReactNode][] = [
    ["Path", item.path],
    ["Type", `${item.media_type} (${item.mime_type ?? "unknown"})`],
    ["Size", formatBytes(item.size)],
    ["Status", item.status + (item.error ? `: ${item.error}` : "")],
    ["Added", String(item.created_at)],
    ...Object.entries(metadata)
      .filter(([k]) => k !== "extra" && !k.startsWith("gps_"))
      .map(([k, v]): [string, React.ReactNode] => [LABELS[k] ?? k, show(k, v)]),
  ];
  if (lat !== undefined && lon !== undefined) {
    rows.push(["GPS", <a href={`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=15/${lat}/${lon}`} target="_blank" rel="noreferrer noopener">{`${lat.toFixed(5)}, ${lon.toFixed(5)}`}</a>]);
  }
  if (metadata.extra && typeof metadata.extra === "object") {
    for (const [k, v] of Object.entries(metadata.extra as Record<string, unknown>)) rows.push([k, show(k, v)]);
  }
  return (
    <article className="item">
      <div className="stage">
        <Preview info={info} key={item.id} />
      </div>
      <aside>
        <h1>{item.name}</h1>
        <h2>Tags</h2>
        <Chips kind="tag" id={item.id} names={info.tags} canEdit={canEdit} onChange={reload} />
        <h2>Collections</h2>
        <Chips kind="collection" id={item.id} names={info.collections} canEdit={canEdit} onChange={reload} choices={choices} />
        {copies.length > 0 && (
          <>
            <h2>Other copies</h2>
            <ul className="plain copies">
              {copies.map((c) => (
                <li key={c.path}>{c.id === null ? c.path : <a href={`/item/${c.id}`} onClick={onLink}>{c.path}</a>}</li>
              ))}
            </ul>
          </>
        )}
        <h2>Details</h2>
        <table className="meta">
          <tbody>
            {rows.map(([k, v]) => (
              <tr key={k}><th scope="row">{k}</th><td>{v}</td></tr>
            ))}
          </tbody>
        </table>
        {info.history && (
          <>
            <h2>History</h2>
            <History events={info.history} />
          </>
        )}
      </aside>
    </article>
  );
}
