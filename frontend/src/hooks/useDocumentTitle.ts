import { useEffect } from 'react'

/** "<page> · PACS Portal" in the tab and for screen readers (announced on navigation). */
export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · PACS Portal` : 'PACS Portal'
  }, [title])
}
