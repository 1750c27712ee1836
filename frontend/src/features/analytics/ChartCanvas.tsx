import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartData,
  type ChartOptions,
  type ChartType,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js'
import { useEffect, useRef } from 'react'

// Register only what the dashboard draws (keeps the bundle small).
Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
)


interface Props<T extends ChartType> {
  type: T
  data: ChartData<T>
  options?: ChartOptions<T>
  /** What the chart shows, for screen readers (the data is also in a table next to it). */
  label: string
  height?: number
}

/** A Chart.js chart; updates in place (no re-creation) when its data changes, e.g. on live events. */
export function ChartCanvas<T extends ChartType>({ type, data, options, label, height = 260 }: Props<T>) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const chart = useRef<Chart<T> | null>(null)

  useEffect(() => {
    if (!canvas.current) return
    chart.current = new Chart<T>(canvas.current, {
      type,
      data,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...options } as ChartOptions<T>,
    })
    return () => {
      chart.current?.destroy()
      chart.current = null
    }
    // Created once per type; data changes are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [type])

  useEffect(() => {
    const c = chart.current
    if (!c) return
    c.data = data
    if (options) c.options = { responsive: true, maintainAspectRatio: false, animation: false, ...options } as never
    c.update()
  }, [data, options])

  return (
    <div className="chart" style={{ height }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  )
}
