import { openOurs } from "./peersPostgres.js"
import { items } from "./cart.js"
const url = process.env.EVENTUALI_PG_URL!
const mode = process.argv[2] ?? "save"
const n = Number(process.argv[3] ?? 5000)
const main = async () => {
  const store = await openOurs(url, `prof_${Math.random().toString(36).slice(2, 8)}`)
  for (let i = 0; i < 300; i++) await store.saveNew(`w-${i}`, items(i, 10))
  for (let i = 0; i < 300; i++) await store.load(`w-${i}`)
  const t0 = performance.now()
  if (mode === "save") for (let i = 0; i < n; i++) await store.saveNew(`s-${i}`, items(i, 1))
  if (mode === "save10") for (let i = 0; i < n; i++) await store.saveNew(`s-${i}`, items(i, 10))
  if (mode === "load") for (let i = 0; i < n; i++) await store.load(`w-${i % 300}`)
  const ms = performance.now() - t0
  console.log(mode, (n / ms * 1000).toFixed(0), "/s", (ms / n * 1000).toFixed(0), "µs each")
  const cpu = process.cpuUsage()
  console.log("process cpu total ms", ((cpu.user + cpu.system) / 1000).toFixed(0))
  await store.close()
}
main()
