// Editing a BTF-typed value field by field: one typed input per numeric field of the map's
// value type (GraphQL Map.valueFields), checked here against the field's range, and sent as
// JSON in the BTF format. The bytes are encoded on the server (model/btf_encode.py), next to
// the renderer: the page needs no copy of the struct layout, the server checks every range
// against the real BTF types again, and only the fields changed are sent, so the fields the
// page does not show (strings, padding) keep their bytes.
import { html } from "../lib.js";

/** The numeric fields of a struct value ([] when the value is not a struct with fields). */
export function structFields(fields) {
  return fields && fields.length && fields.every((f) => f.path) ? fields : [];
}

/** "a.b[2].c" -> ["a", "b", "2", "c"]. */
function segments(path) {
  return path.replace(/\[(\d+)\]/g, ".$1").split(".").filter((s) => s !== "");
}

/** A field's value in a decoded BTF value (undefined when it is not there). */
export function fieldOf(value, path) {
  let here = value;
  for (const s of segments(path)) {
    if (here === null || typeof here !== "object") return undefined;
    here = here[s];
  }
  return here;
}

/** A field's value as the text its input shows. */
export function fieldText(value, path) {
  const v = fieldOf(value, path);
  return v === undefined || v === null ? "" : String(v);
}

const INTEGER = /^[+-]?\d+$/;
const HEX = /^0x[0-9a-f]+$/i;

/** Why `text` cannot go into `field`, or null when it can. */
export function fieldProblem(field, text) {
  const t = text.trim();
  if (field.kind === "bool") return null;
  if (field.kind === "float") {
    return t !== "" && Number.isFinite(Number(t)) ? null : `${field.path}: not a number`;
  }
  if (field.kind === "enum" && field.enumNames.includes(t)) return null;
  if (!INTEGER.test(t) && !HEX.test(t)) {
    const names = field.kind === "enum" ? ` or one of ${field.enumNames.join(", ")}` : "";
    return `${field.path}: ${JSON.stringify(t)} is not an integer${names}`;
  }
  const n = BigInt(t);
  if (n < BigInt(field.minimum) || n > BigInt(field.maximum)) {
    return `${field.path}: ${t} is out of range for ${field.typeName} ` +
      `(${field.minimum} to ${field.maximum})`;
  }
  return null;
}

/** The JSON sent for the changed fields: nested objects, array elements by index. Integers
 * go as text so that 64-bit values keep every digit. */
export function fieldsJson(fields, texts, changed) {
  const out = {};
  fields.forEach((f, i) => {
    if (!changed[i]) return;
    const path = segments(f.path);
    let here = out;
    path.slice(0, -1).forEach((s) => { here = here[s] = here[s] || {}; });
    const t = texts[i].trim();
    here[path[path.length - 1]] = f.kind === "bool" ? t === "true"
      : f.kind === "float" ? Number(t) : t;
  });
  return JSON.stringify(out);
}

/** One group of inputs: a value's fields (one CPU's, for per-CPU maps). */
export function FieldInputs({ fields, texts, onChange, label }) {
  return html`<fieldset class="fields" data-testid="field-editor">
    <legend>${label}</legend>
    ${fields.map((f, i) => {
      const problem = fieldProblem(f, texts[i]);
      const name = `${label} ${f.path}`;
      if (f.kind === "bool") {
        return html`<label class="field">${f.path}
          <input type="checkbox" aria-label=${name} checked=${texts[i] === "true"}
            onChange=${(e) => onChange(i, e.currentTarget.checked ? "true" : "false")}/>
          </label>`;
      }
      return html`<label class="field">${f.path} <span class="muted">${f.typeName}</span>
        <input class="mono" aria-label=${name} value=${texts[i]} inputmode=${
          f.kind === "enum" ? "text" : "numeric"} list=${f.kind === "enum"
          ? `enum-${f.path}` : null} aria-invalid=${problem ? "true" : "false"}
          title=${problem || `${f.minimum} to ${f.maximum}`}
          onInput=${(e) => onChange(i, e.currentTarget.value)}/>
        ${f.kind === "enum" ? html`<datalist id=${`enum-${f.path}`}>${f.enumNames.map((n) =>
          html`<option value=${n}/>`)}</datalist>` : null}
        ${problem ? html`<span class="error-text" role="alert">${problem}</span>` : null}
      </label>`;
    })}
  </fieldset>`;
}
